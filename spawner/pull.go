package spawner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/jsonmessage"
)

// PullProgress is how far an image pull has come.
type PullProgress struct {
	// Layers is the number of layers the engine has announced, LayersDone
	// how many of them are downloaded and extracted (or were already
	// there).
	Layers, LayersDone int
	// Downloaded and Size are bytes over the layers whose size is known.
	Downloaded, Size int64
	// Status is the engine's latest status line, such as "Downloading".
	Status string
}

// Percent estimates the share done, 0 to 100: each layer counts equally,
// a downloading layer by the share of its bytes that arrived.
func (p PullProgress) Percent() int {
	if p.Layers == 0 {
		return 0
	}
	done := float64(p.LayersDone)
	if p.Size > 0 {
		done += float64(p.Layers-p.LayersDone) * float64(p.Downloaded) / float64(p.Size) * 0.9
	}
	return min(100, int(done*100/float64(p.Layers)))
}

// layerState tracks one layer of a pull.
type layerState struct {
	current, total int64
	done           bool
}

// Pull downloads the image ref from its registry, calling progress (if not
// nil) as the engine reports. It returns when the image is present or the
// pull failed; the engine's error message is part of the error. Only ctx
// bounds the pull, which may take minutes for a large image.
//
// The engine treats registries on 127.0.0.0/8 as insecure-allowed, so a
// registry on the loopback interface needs no TLS.
func (d *Docker) Pull(ctx context.Context, ref string, progress func(PullProgress)) error {
	rc, err := d.cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return fmt.Errorf("pulling %s: %w", ref, notFound(err))
	}
	defer rc.Close()
	d.log.Info("image pull started", "image", ref)
	layers := map[string]*layerState{}
	var order []string
	dec := json.NewDecoder(rc)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("pulling %s: reading progress: %w", ref, err)
		}
		if m.Error != nil {
			return fmt.Errorf("pulling %s: %s", ref, m.Error.Message)
		}
		if m.ErrorMessage != "" {
			return fmt.Errorf("pulling %s: %s", ref, m.ErrorMessage)
		}
		if m.ID == "" || !isLayerStatus(m.Status) {
			continue
		}
		l, ok := layers[m.ID]
		if !ok {
			l = &layerState{}
			layers[m.ID] = l
			order = append(order, m.ID)
		}
		switch {
		case m.Status == "Downloading" && m.Progress != nil:
			l.current, l.total = m.Progress.Current, m.Progress.Total
		case m.Status == "Download complete" || m.Status == "Verifying Checksum":
			l.current = l.total
		case m.Status == "Pull complete" || m.Status == "Already exists":
			l.done = true
			l.current = l.total
		}
		if progress != nil {
			p := PullProgress{Layers: len(order), Status: m.Status}
			for _, id := range order {
				l := layers[id]
				if l.done {
					p.LayersDone++
					continue
				}
				p.Downloaded += l.current
				p.Size += l.total
			}
			progress(p)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pulling %s: %w", ref, err)
	}
	present, err := d.ImagePresent(ctx, ref)
	if err != nil {
		return err
	}
	if !present {
		return fmt.Errorf("pulling %s: the engine finished without the image", ref)
	}
	d.log.Info("image pulled", "image", ref, "layers", len(order))
	return nil
}

// isLayerStatus reports whether a pull message is about a layer, rather
// than about the image as a whole ("Pulling from", "Digest", "Status").
func isLayerStatus(s string) bool {
	switch {
	case s == "Pulling fs layer", s == "Waiting", s == "Downloading", s == "Verifying Checksum",
		s == "Download complete", s == "Extracting", s == "Pull complete", s == "Already exists":
		return true
	case strings.HasPrefix(s, "Retrying"):
		return true
	}
	return false
}
