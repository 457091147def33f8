package lms

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseAutoSubmitForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		page       string
		wantAction string
		wantFields url.Values
		wantErr    error
	}{
		{
			name: "Moodle auth response",
			page: "<form action=\"http://127.0.0.1:9000/lti13/launch\" name=\"ltiAuthForm\" id=\"ltiAuthForm\" " +
				"method=\"post\" enctype=\"application/x-www-form-urlencoded\">\n" +
				"  <input type=\"hidden\" name=\"id_token\" value=\"a.b.c\"/>\n" +
				"  <input type=\"hidden\" name=\"state\" value=\"s1\"/>\n</form>\n" +
				"<script type=\"text/javascript\">\n//<![CDATA[\ndocument.ltiAuthForm.submit();\n//]]>\n</script>\n",
			wantAction: "http://127.0.0.1:9000/lti13/launch",
			wantFields: url.Values{"id_token": {"a.b.c"}, "state": {"s1"}},
		},
		{
			name:       "entities, single quotes and unquoted values",
			page:       `<FORM ACTION='/launch?a=1&amp;b=2'><INPUT NAME=x VALUE=1><input name='msg' value='{&quot;k&quot;:&#34;v&#34;}'></FORM>`,
			wantAction: "/launch?a=1&b=2",
			wantFields: url.Values{"x": {"1"}, "msg": {`{"k":"v"}`}},
		},
		{
			name:       "repeated names keep both values",
			page:       `<form action="/a"><input name="r" value="1"><input name="r" value="2"></form>`,
			wantAction: "/a",
			wantFields: url.Values{"r": {"1", "2"}},
		},
		{
			name: "buttons, unnamed, disabled and unchecked inputs do not submit",
			page: `<form action="/a"><input type="submit" name="go" value="Go"><input value="anon">` +
				`<input name="off" value="1" disabled><input type="checkbox" name="cb" value="1">` +
				`<input type="checkbox" name="on" checked><input type="radio" name="r" value="b" checked>` +
				`<button name="btn" value="1">Continue</button></form>`,
			wantAction: "/a",
			wantFields: url.Values{"on": {"on"}, "r": {"b"}},
		},
		{
			name: "forms in comments and scripts are not forms",
			page: `<!-- <form action="/commented"><input name="c" value="1"></form> -->` +
				`<script>var s = '<form action="/scripted"><input name="s">';</script>` +
				`<form action="/real"><input name="r" value="1"></form>`,
			wantAction: "/real",
			wantFields: url.Values{"r": {"1"}},
		},
		{
			name:       "only the first form counts and inputs outside it are ignored",
			page:       `<input name="before" value="1"><form action="/one"><input name="a" value="1"></form><form action="/two"><input name="b"></form>`,
			wantAction: "/one",
			wantFields: url.Values{"a": {"1"}},
		},
		{
			name:       "first of duplicated attributes wins",
			page:       `<form action="/first" action="/second"><input name="a" name="b" value="1" value="2"></form>`,
			wantAction: "/first",
			wantFields: url.Values{"a": {"1"}},
		},
		{
			name:       "unclosed form and stray angle brackets",
			page:       `1 < 2 <form action="/x"><input name="a" value="<b>">`,
			wantAction: "/x",
			wantFields: url.Values{"a": {"<b>"}},
		},
		{
			name:       "attribute without value and newline separators",
			page:       "<form\naction=\"/x\"\nnovalidate><input\nname=\"a\"\nvalue=\"1\"\n/></form>",
			wantAction: "/x",
			wantFields: url.Values{"a": {"1"}},
		},
		{name: "no form", page: `<html><body><p>Invalid request</p></body></html>`, wantErr: ErrNoForm},
		{name: "empty page", page: ``, wantErr: ErrNoForm},
		{name: "unterminated comment", page: `<!-- <form action="/x">`, wantErr: ErrNoForm},
		{name: "unterminated tag", page: `<form action="/x`, wantAction: "/x", wantFields: url.Values{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			action, fields, err := ParseAutoSubmitForm(strings.NewReader(tc.page))
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantAction, action)
			require.Equal(t, tc.wantFields, fields)
		})
	}
}

// The pages the platform renders itself parse back to what went in.
func TestAutoSubmitPageRoundTrip(t *testing.T) {
	t.Parallel()
	fields := Form{{"id_token", "a.b.c"}, {"state", `"><script>x</script>`}, {"msg", `{"cmid":2,"launchid":"l_1"}`}, {"empty", ""}}
	w := newRecorder()
	renderAutoSubmit(w, autoSubmit{FormID: "ltiAuthForm", Action: "http://127.0.0.1:9/launch?x=1&y=2", Fields: fields})
	pf, err := parseFirstForm(w.Body.String())
	require.NoError(t, err)
	require.Equal(t, "ltiAuthForm", pf.id)
	require.Equal(t, "http://127.0.0.1:9/launch?x=1&y=2", pf.action)
	require.Equal(t, fields, pf.fields)
	require.NotContains(t, w.Body.String(), "<script>x")
	require.Contains(t, w.Body.String(), "Continue", "pages work without JavaScript")

	// An unsafe action never makes it into the page.
	w = newRecorder()
	renderAutoSubmit(w, autoSubmit{FormID: "f", Action: "javascript:alert(1)", Fields: fields})
	pf, err = parseFirstForm(w.Body.String())
	require.NoError(t, err)
	require.NotContains(t, pf.action, "javascript")
}

func TestFormMethods(t *testing.T) {
	t.Parallel()
	f := Form{{"a", "1"}, {"b", "2"}, {"a", "3"}}
	require.Equal(t, "1", f.Get("a"))
	require.Equal(t, "", f.Get("z"))
	require.True(t, f.Has("b"))
	f.Set("a", "x y&z")
	f.Set("c", "4")
	require.Equal(t, "a=x+y%26z&b=2&a=3&c=4", f.Encode())
	f.Del("a")
	require.Equal(t, Form{{"b", "2"}, {"c", "4"}}, f)
	require.Equal(t, url.Values{"b": {"2"}, "c": {"4"}}, f.Values())
}
