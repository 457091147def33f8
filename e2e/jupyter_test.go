package e2e

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// waitForServer reads the progress stream of a start until its final event
// and returns the server URL it announces.
func waitForServer(t *testing.T, c *http.Client, hubURL, user, server string) string {
	t.Helper()
	u := hubURL + "hub/api/users/" + url.PathEscape(user) + "/servers/" + url.PathEscape(server) + "/progress"
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	sc := bufio.NewScanner(resp.Body)
	var events []string
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		events = append(events, data)
		var e struct {
			Ready, Failed bool
			URL, Message  string
		}
		require.NoError(t, json.Unmarshal([]byte(data), &e))
		if e.Failed {
			t.Fatalf("server failed to start: %s (events %v)", e.Message, events)
		}
		if e.Ready {
			require.GreaterOrEqual(t, len(events), 1)
			return hubURL + strings.TrimPrefix(e.URL, "/")
		}
	}
	t.Fatalf("progress stream ended without a final event: %v (%v)", events, sc.Err())
	return ""
}

// jupyter talks to one notebook server through the hub's proxy as a logged
// in browser does: cookies from the jar, the _xsrf cookie echoed in a header.
type jupyter struct {
	t      *testing.T
	client *http.Client
	base   string // server URL ending in "/"
}

func (j *jupyter) xsrf() string {
	u, _ := url.Parse(j.base)
	for _, c := range j.client.Jar.Cookies(u) {
		if c.Name == "_xsrf" {
			return c.Value
		}
	}
	return ""
}

func (j *jupyter) do(method, path string, body io.Reader) (int, string) {
	j.t.Helper()
	req, err := http.NewRequest(method, j.base+path, body)
	require.NoError(j.t, err)
	req.Header.Set("X-XSRFToken", j.xsrf())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := j.client.Do(req)
	require.NoError(j.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// run starts a kernel through the proxied REST API, executes code over the
// proxied websocket, and returns what the kernel printed (stdout) and any
// error it raised.
func (j *jupyter) run(code string) (stdout, errText string) {
	j.t.Helper()
	status, body := j.do(http.MethodPost, "api/kernels", strings.NewReader(`{"name":"python3"}`))
	require.Equal(j.t, http.StatusCreated, status, "start kernel: %s", body)
	var k struct{ ID string }
	require.NoError(j.t, json.Unmarshal([]byte(body), &k))
	defer j.do(http.MethodDelete, "api/kernels/"+k.ID, nil)

	session := newID()
	ws := strings.Replace(strings.Replace(j.base, "https://", "wss://", 1), "http://", "ws://", 1) +
		"api/kernels/" + k.ID + "/channels?session_id=" + session
	dialer := websocket.Dialer{Jar: j.client.Jar, HandshakeTimeout: 10 * time.Second}
	if tr, ok := j.client.Transport.(*http.Transport); ok {
		dialer.TLSClientConfig = tr.TLSClientConfig
	}
	conn, resp, err := dialer.Dial(ws, nil)
	if resp != nil && err != nil {
		b, _ := io.ReadAll(resp.Body)
		j.t.Fatalf("websocket: %v (%d %s)", err, resp.StatusCode, b)
	}
	require.NoError(j.t, err)
	defer conn.Close()

	msgID := newID()
	msg := map[string]any{
		"header": map[string]any{"msg_id": msgID, "username": "test", "session": session,
			"msg_type": "execute_request", "version": "5.3", "date": time.Now().UTC().Format(time.RFC3339)},
		"parent_header": map[string]any{}, "metadata": map[string]any{}, "channel": "shell", "buffers": []any{},
		"content": map[string]any{"code": code, "silent": false, "store_history": false,
			"user_expressions": map[string]any{}, "allow_stdin": false, "stop_on_error": true},
	}
	require.NoError(j.t, conn.WriteJSON(msg))
	deadline := time.Now().Add(60 * time.Second)
	var out, errs strings.Builder
	for {
		require.NoError(j.t, conn.SetReadDeadline(deadline))
		var m struct {
			Channel string
			Header  struct {
				MsgType string `json:"msg_type"`
			}
			ParentHeader struct {
				MsgID string `json:"msg_id"`
			} `json:"parent_header"`
			Content map[string]any
		}
		if err := conn.ReadJSON(&m); err != nil {
			j.t.Fatalf("read kernel message: %v (stdout so far %q)", err, out.String())
		}
		if m.ParentHeader.MsgID != msgID {
			continue
		}
		switch m.Header.MsgType {
		case "stream":
			if m.Content["name"] == "stdout" {
				out.WriteString(fmt.Sprint(m.Content["text"]))
			}
		case "error":
			fmt.Fprintf(&errs, "%v: %v", m.Content["ename"], m.Content["evalue"])
		case "status":
			if m.Content["execution_state"] == "idle" {
				return out.String(), errs.String()
			}
		}
	}
}
