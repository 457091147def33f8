package lti

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// MessageDeepLinkingResponse is the message type of the JWT a tool posts
// back to a platform's deep linking return URL.
const MessageDeepLinkingResponse = "LtiDeepLinkingResponse"

// TypeResourceLink is the content item type of an LTI resource link.
const TypeResourceLink = "ltiResourceLink"

// DeepLinkingResponseTTL is how long a deep linking response is valid.
const DeepLinkingResponseTTL = 5 * time.Minute

// ResourceLinkItem is an ltiResourceLink content item (LTI Deep Linking 2.0
// §3.4.1) as Labhub returns it.
//
// It never carries a url: the link then launches the tool's registered
// target link URI. Moodle turns a link with its own url into an activity
// detached from the tool registration, which loses the tool's keys and
// services.
type ResourceLinkItem struct {
	// Title names the activity in the LMS. It must not be empty.
	Title string
	// Text describes the activity; "" for none.
	Text string
	// Custom holds custom parameters the platform sends back with every
	// launch of the link; nil for none.
	Custom map[string]string
	// LineItem, if not nil, asks the platform to create a gradebook column
	// for the link.
	LineItem *LineItemSpec
}

// LineItemSpec is the lineItem of a resource link content item.
type LineItemSpec struct {
	// ScoreMaximum is the maximum score, greater than zero.
	ScoreMaximum float64
	// Label names the column; "" means the link's title.
	Label string
	// ResourceID and Tag are the tool's own identifiers for the column;
	// "" for none.
	ResourceID, Tag string
}

// DeepLinkingResponse returns the signed LtiDeepLinkingResponse JWT (LTI
// Deep Linking 2.0 §4.2) for a deep linking request of the launch l from
// platform p: issuer the client id, audience the platform's issuer, the
// request's deployment id and data echoed, the content items, signed with
// key (RS256, its kid in the header).
//
// Items are refused when the request does not accept ltiResourceLink or
// accepts one item only and more are given.
func DeepLinkingResponse(p Platform, l *Launch, items []ResourceLinkItem, key jwk.Key,
	now time.Time) (string, error) {
	if l == nil || l.DeepLinking == nil {
		return "", errors.New("deep linking response: the launch is not a deep linking request")
	}
	dl := l.DeepLinking
	if len(items) > 0 && len(dl.AcceptTypes) > 0 && !slices.Contains(dl.AcceptTypes, TypeResourceLink) {
		return "", errors.New("deep linking response: the platform does not accept resource links here")
	}
	if len(items) > 1 && !dl.AcceptMultiple {
		return "", errors.New("deep linking response: the platform accepts one item only")
	}
	contentItems := make([]map[string]any, 0, len(items))
	for _, it := range items {
		if it.Title == "" {
			return "", errors.New("deep linking response: a resource link needs a title")
		}
		ci := map[string]any{"type": TypeResourceLink, "title": it.Title}
		if it.Text != "" {
			ci["text"] = it.Text
		}
		if len(it.Custom) > 0 {
			ci["custom"] = it.Custom
		}
		if li := it.LineItem; li != nil {
			if !(li.ScoreMaximum > 0) || math.IsInf(li.ScoreMaximum, 0) {
				return "", errors.New("deep linking response: the maximum score must be greater than zero")
			}
			label := li.Label
			if label == "" {
				label = it.Title
			}
			line := map[string]any{"scoreMaximum": li.ScoreMaximum, "label": label}
			if li.ResourceID != "" {
				line["resourceId"] = li.ResourceID
			}
			if li.Tag != "" {
				line["tag"] = li.Tag
			}
			ci["lineItem"] = line
		}
		contentItems = append(contentItems, ci)
	}
	claims := map[string]any{
		"iss":             p.ClientID,
		"aud":             p.Issuer,
		"iat":             now.Unix(),
		"exp":             now.Add(DeepLinkingResponseTTL).Unix(),
		"nonce":           rand.Text(),
		claimDeploymentID: l.DeploymentID,
		claimMessageType:  MessageDeepLinkingResponse,
		claimVersion:      "1.3.0",
		"https://purl.imsglobal.org/spec/lti-dl/claim/content_items": contentItems,
	}
	if dl.Data != "" {
		claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] = dl.Data
	}
	return signJWT(claims, key)
}

// signJWT signs claims with key as a compact RS256 JWS with typ JWT and the
// key's kid.
func signJWT(claims map[string]any, key jwk.Key) (string, error) {
	if key == nil {
		return "", errors.New("sign jwt: no key")
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("sign jwt: encode claims: %w", err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		return "", fmt.Errorf("sign jwt: %w", err)
	}
	if kid := key.KeyID(); kid != "" {
		if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
			return "", fmt.Errorf("sign jwt: %w", err)
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.RS256, key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return "", fmt.Errorf("sign jwt: %w", err)
	}
	return string(tok), nil
}
