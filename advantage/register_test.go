package advantage_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/advantage"
	"github.com/labhub/labhub/lms"
	"github.com/labhub/labhub/lti"
)

func TestRegistrarWithMoodle(t *testing.T) {
	p, err := lms.New(lms.Options{TokenAudience: "https://api.example.test/auth/token"})
	require.NoError(t, err)
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	p.SetIssuer(srv.URL)
	ctx := context.Background()

	start, err := p.StartRegistration("http://127.0.0.1:9/lti/register")
	require.NoError(t, err)
	q, _ := url.Parse(start)
	r := &advantage.Registrar{}
	conf, err := r.Configuration(ctx, q.Query().Get("openid_configuration"))
	require.NoError(t, err)
	require.Equal(t, srv.URL, conf.Issuer)
	require.Equal(t, "https://api.example.test/auth/token", conf.AuthorizationServer)
	require.True(t, conf.SupportsMessage(lti.MessageDeepLinking))

	reg := lti.ToolRegistration{Name: "Labhub", LoginURL: "http://127.0.0.1:9/lti/login",
		LaunchURL: "http://127.0.0.1:9/lti/launch", JWKSURL: "http://127.0.0.1:9/lti/jwks",
		DeepLinkingURL: "http://127.0.0.1:9/lti/launch", Scopes: []string{lti.ScopeMemberships},
		Claims: []string{"name", "email"}}
	_, err = r.Register(ctx, conf, "", reg)
	var re *advantage.RegistrationError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "missing_registration_token", re.Code)

	token := q.Query().Get("registration_token")
	got, err := r.Register(ctx, conf, token, reg)
	require.NoError(t, err)
	require.Len(t, got.ClientID, 15)
	require.NotEmpty(t, got.DeploymentID)
	tool, ok := p.Tool(got.ClientID)
	require.True(t, ok)
	require.True(t, tool.Pending)
	require.Equal(t, "http://127.0.0.1:9/lti/launch", tool.DeepLinkingURL)

	_, err = r.Register(ctx, conf, token, reg)
	require.True(t, errors.As(err, &re))
	require.Equal(t, "token_already_used", re.Code)

	_, err = r.Configuration(ctx, srv.URL+"/nowhere")
	require.Error(t, err)
}
