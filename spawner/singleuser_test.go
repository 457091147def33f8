package spawner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/labhub/labhub/spawner"
)

// TestSingleuserStarts runs the image's real jupyterhub-singleuser against a
// minimal hub API served by the test process on the network's gateway, the
// way a hub on the host serves its containers.
func TestSingleuserStarts(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	var versionChecks atomic.Int32
	mux := http.NewServeMux()
	hubAPI := func(w http.ResponseWriter, r *http.Request) {
		versionChecks.Add(1)
		w.Header().Set("X-JupyterHub-Version", "5.3.0")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"version": "5.3.0"}`)
	}
	mux.HandleFunc("GET /hub/api", hubAPI)
	mux.HandleFunc("GET /hub/api/{$}", hubAPI)
	port := serveOn(t, e.gateway, mux)

	env := hubEnv()
	env["JUPYTERHUB_API_URL"] = fmt.Sprintf("http://%s:%d/hub/api", e.gateway, port)
	spec := spawner.Spec{
		Name:        spawner.ContainerName(e.prefix, "c"),
		Image:       e.image,
		Env:         env,
		Labels:      e.labels("srv-1"),
		MemoryBytes: 512 << 20,
		PidsLimit:   256,
	}
	s, err := e.d.Start(ctx, spec)
	require.NoError(t, err)

	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	api := s.URL + "/user/t/c/api"
	err = spawner.WaitReady(wctx, nil, api, func(ctx context.Context) error {
		return e.d.CheckRunning(ctx, s.ID)
	})
	if err != nil {
		logs, _ := e.d.Logs(context.Background(), s.ID, 40)
		t.Fatalf("singleuser not ready: %v\nlogs:\n%s", err, logs)
	}
	require.Positive(t, versionChecks.Load(), "singleuser asked the hub for its version")

	resp, err := http.Get(api)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var v struct {
		Version string `json:"version"`
	}
	require.NoError(t, json.Unmarshal(body, &v), string(body))
	require.NotEmpty(t, v.Version)

	// The server handles SIGTERM, so a stop does not need the kill.
	start := time.Now()
	require.NoError(t, e.d.Stop(ctx, s.ID, 10*time.Second))
	require.Less(t, time.Since(start), 10*time.Second)
}
