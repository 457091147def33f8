package spawner

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// OOMEvent says that the kernel killed a process in a container for going
// over the container's memory limit. The container itself keeps running
// unless the killed process was its main one.
type OOMEvent struct {
	ContainerID string
	// Labels are the container's labels.
	Labels map[string]string
}

// WatchOOM calls fn for every out-of-memory kill in a container the package
// manages that carries every label in match, until ctx ends or the event
// stream breaks; it returns the reason. Callers that need to keep watching
// call it again.
func (d *Docker) WatchOOM(ctx context.Context, match map[string]string, fn func(OOMEvent)) error {
	f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("event", string(events.ActionOOM)), filters.Arg("label", LabelManaged+"=true"))
	for k, v := range match {
		f.Add("label", k+"="+v)
	}
	msgs, errs := d.cli.Events(ctx, events.ListOptions{Filters: f})
	for {
		select {
		case m := <-msgs:
			labels := map[string]string{}
			for k, v := range m.Actor.Attributes {
				labels[k] = v
			}
			d.log.Warn("container process killed for lack of memory", "container_id", m.Actor.ID,
				"container_name", labels["name"])
			fn(OOMEvent{ContainerID: m.Actor.ID, Labels: labels})
		case err := <-errs:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("watching engine events: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
