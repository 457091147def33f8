package advantage

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/labhub/labhub/lti"
)

// RegistrationError is a failed dynamic registration call. Code is the
// platform's error code when it gave one, such as Moodle's
// token_already_used or missing_registration_token.
type RegistrationError = Error

// Registrar performs LTI dynamic registration with a platform.
type Registrar struct {
	// Client sends the requests; nil means a client with a 20 s timeout.
	Client *http.Client
}

func (r *Registrar) client() *http.Client {
	if r.Client != nil {
		return r.Client
	}
	return &http.Client{Timeout: defaultTimeout}
}

// Configuration fetches and reads the platform's OpenID configuration.
func (r *Registrar) Configuration(ctx context.Context, configURL string) (*lti.PlatformConfiguration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, configURL, nil)
	if err != nil {
		return nil, &RegistrationError{Detail: "build configuration request", Err: err}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client().Do(req)
	if err != nil {
		return nil, &RegistrationError{Detail: "fetch the platform configuration", Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20+1))
	if err != nil {
		return nil, &RegistrationError{Status: resp.StatusCode, Detail: "read the platform configuration", Err: err}
	}
	if resp.StatusCode/100 != 2 {
		return nil, &RegistrationError{Status: resp.StatusCode, Code: lti.RegistrationErrorCode(body),
			Detail: "the platform did not serve its configuration"}
	}
	c, err := lti.ParsePlatformConfiguration(body)
	if err != nil {
		return nil, &RegistrationError{Status: resp.StatusCode, Detail: "read the platform configuration", Err: err}
	}
	return c, nil
}

// Register posts the tool's registration to the platform's registration
// endpoint with the registration token (sent as a bearer token when not
// empty) and returns the platform's answer.
func (r *Registrar) Register(ctx context.Context, c *lti.PlatformConfiguration, token string,
	t lti.ToolRegistration) (*lti.RegistrationResponse, error) {
	body, err := t.RegistrationRequest(c)
	if err != nil {
		return nil, &RegistrationError{Detail: "build the registration", Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.RegistrationEndpoint, bytes.NewReader(body))
	if err != nil {
		return nil, &RegistrationError{Detail: "build the registration request", Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.client().Do(req)
	if err != nil {
		return nil, &RegistrationError{Detail: "send the registration", Err: err}
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20+1))
	if err != nil {
		return nil, &RegistrationError{Status: resp.StatusCode, Detail: "read the registration answer", Err: err}
	}
	if resp.StatusCode/100 != 2 {
		return nil, &RegistrationError{Status: resp.StatusCode, Code: lti.RegistrationErrorCode(out),
			Detail: "the platform refused the registration"}
	}
	reg, err := lti.ParseRegistrationResponse(out)
	if err != nil {
		return nil, &RegistrationError{Status: resp.StatusCode, Detail: "read the registration answer", Err: err}
	}
	return reg, nil
}
