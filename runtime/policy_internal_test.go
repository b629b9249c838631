package runtime

import (
	"testing"

	"google.golang.org/grpc/connectivity"
)

// The watcher samples grpc's state and may miss a state that lasts less than
// its wake-up. These paths are what it may see of one connection that came
// and went; each must count one dial and one drop, whatever was missed. The
// Conn never dials: its channel stays IDLE, so only these transitions reach
// the state machine.
func TestTransitionsCountEachConnectionOnce(t *testing.T) {
	const (
		idle       = connectivity.Idle
		connecting = connectivity.Connecting
		ready      = connectivity.Ready
		failure    = connectivity.TransientFailure
	)
	for name, tc := range map[string]struct {
		path         []connectivity.State
		dials, drops uint64
	}{
		"every state seen":                {[]connectivity.State{connecting, ready, idle}, 1, 1},
		"CONNECTING unseen":               {[]connectivity.State{ready, idle}, 1, 1},
		"READY unseen":                    {[]connectivity.State{connecting, idle}, 1, 1},
		"whole cycle unseen":              {[]connectivity.State{unseenBetween(idle), idle}, 1, 1},
		"drop and reconnect unseen":       {[]connectivity.State{connecting, ready, unseenBetween(ready), ready}, 2, 1},
		"sticky TRANSIENT_FAILURE":        {[]connectivity.State{connecting, failure, ready, idle}, 1, 1},
		"failed attempt, no connection":   {[]connectivity.State{connecting, failure}, 1, 0},
		"IDLE to TRANSIENT_FAILURE, fast": {[]connectivity.State{failure}, 1, 0},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := NewConn("passthrough:///never-dialled")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for _, s := range tc.path {
				c.recordTransition(s, "")
			}
			if st := c.Stats(); st.Dials != tc.dials || st.Drops != tc.drops {
				t.Errorf("path %v: dials, drops = %d, %d; want %d, %d", tc.path, st.Dials, st.Drops, tc.dials, tc.drops)
			}
		})
	}
}
