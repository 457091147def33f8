package web

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/labhub/labhub/lti"
)

// toolConfigJSON serves the tool's LTI 1.3 configuration (GET
// /lti/config.json) for LMSs configured by hand, in the form Canvas reads
// ("Add Developer Key → LTI Key → Paste JSON"); its URLs are the values
// every LMS asks for.
func (s *Server) toolConfigJSON(c *gin.Context) {
	reg := s.toolRegistration()
	domain := ""
	if u, err := url.Parse(s.PublicURL); err == nil {
		domain = u.Hostname()
	}
	placement := func(name, message string) map[string]any {
		return map[string]any{"placement": name, "message_type": message, "target_link_uri": reg.LaunchURL,
			"text": reg.Name}
	}
	conf := map[string]any{
		"title":               reg.Name,
		"description":         reg.Description,
		"oidc_initiation_url": reg.LoginURL,
		"target_link_uri":     reg.LaunchURL,
		"redirect_uris":       []string{reg.LaunchURL},
		"public_jwk_url":      reg.JWKSURL,
		"scopes":              reg.Scopes,
		"extensions": []map[string]any{{
			"platform":      "canvas.instructure.com",
			"privacy_level": "public",
			"domain":        domain,
			"tool_id":       "labhub",
			"settings": map[string]any{
				"placements": []map[string]any{
					placement("link_selection", lti.MessageDeepLinking),
					placement("assignment_selection", lti.MessageDeepLinking),
					placement("course_navigation", lti.MessageResourceLink),
				},
			},
		}},
		"custom_fields": map[string]string{"canvas_user_login_id": "$Canvas.user.loginId"},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		s.internalError(c, "encode tool configuration", err)
		return
	}
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "application/json", b)
}

// toolConfigXML serves the LTI 1.1 cartridge (GET /lti11/config.xml) for
// LMSs that import a tool from XML.
func (s *Server) toolConfigXML(c *gin.Context) {
	launch := s.PublicURL + "hub/lti/launch"
	domain := ""
	if u, err := url.Parse(s.PublicURL); err == nil {
		domain = u.Hostname()
	}
	esc := func(v string) string {
		var b bytes.Buffer
		_ = xml.EscapeText(&b, []byte(v))
		return b.String()
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<cartridge_basiclti_link xmlns="http://www.imsglobal.org/xsd/imslticc_v1p0"
    xmlns:blti="http://www.imsglobal.org/xsd/imsbasiclti_v1p0"
    xmlns:lticm="http://www.imsglobal.org/xsd/imslticm_v1p0"
    xmlns:lticp="http://www.imsglobal.org/xsd/imslticp_v1p0"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:schemaLocation="http://www.imsglobal.org/xsd/imslticc_v1p0 http://www.imsglobal.org/xsd/lti/ltiv1p0/imslticc_v1p0.xsd http://www.imsglobal.org/xsd/imsbasiclti_v1p0 http://www.imsglobal.org/xsd/lti/ltiv1p0/imsbasiclti_v1p0.xsd http://www.imsglobal.org/xsd/imslticm_v1p0 http://www.imsglobal.org/xsd/lti/ltiv1p0/imslticm_v1p0.xsd http://www.imsglobal.org/xsd/imslticp_v1p0 http://www.imsglobal.org/xsd/lti/ltiv1p0/imslticp_v1p0.xsd">
  <blti:title>Labhub</blti:title>
  <blti:description>Jupyter notebooks for every student of the course.</blti:description>
  <blti:launch_url>` + esc(launch) + `</blti:launch_url>
`)
	if s.secure {
		b.WriteString("  <blti:secure_launch_url>" + esc(launch) + "</blti:secure_launch_url>\n")
	}
	b.WriteString(`  <blti:vendor>
    <lticp:code>labhub</lticp:code>
    <lticp:name>Labhub</lticp:name>
  </blti:vendor>
  <blti:extensions platform="canvas.instructure.com">
    <lticm:property name="privacy_level">public</lticm:property>
    <lticm:property name="domain">` + esc(domain) + `</lticm:property>
  </blti:extensions>
  <cartridge_bundle identifierref="BLTI001_Bundle"/>
  <cartridge_icon identifierref="BLTI001_Icon"/>
</cartridge_basiclti_link>
`)
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "application/xml; charset=utf-8", b.Bytes())
}
