// Command tinyserver stands in for jupyterhub-singleuser in an image small
// enough to push to a registry in a test: it answers the hub's readiness
// check at <prefix>api and every other path with a line naming its user.
// Run as "chown UID:GID PATH" it changes a path's owner, which is all the
// hub's volume preparation asks of an image.
package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func main() {
	if filepath.Base(os.Args[0]) == "chown" {
		if len(os.Args) != 3 {
			fmt.Fprintln(os.Stderr, "usage: chown UID:GID PATH")
			os.Exit(2)
		}
		u, g, _ := strings.Cut(os.Args[1], ":")
		uid, err1 := strconv.Atoi(u)
		gid, err2 := strconv.Atoi(g)
		if err1 != nil || err2 != nil {
			fmt.Fprintln(os.Stderr, "chown: bad owner", os.Args[1])
			os.Exit(2)
		}
		if err := os.Chown(os.Args[2], uid, gid); err != nil {
			fmt.Fprintln(os.Stderr, "chown:", err)
			os.Exit(1)
		}
		return
	}
	prefix := os.Getenv("JUPYTERHUB_SERVICE_PREFIX")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == prefix+"api" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintln(w, `{"version": "tiny"}`)
			return
		}
		fmt.Fprintf(w, "tiny server of %s\n", os.Getenv("JUPYTERHUB_USER"))
	})
	if err := http.ListenAndServe(":8888", nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
