package runtime

import (
	"time"

	"google.golang.org/grpc/connectivity"
)

// Stats is a snapshot of a Conn, for tests and debug pages. Its fields are
// read one at a time while calls go on, so they agree with each other only
// when the Conn is quiet.
type Stats struct {
	// State is the connectivity state last seen, and StateSince when the
	// Conn saw it.
	State      connectivity.State
	StateSince time.Time
	// Active is the number of calls in flight; ActiveByMethod breaks it down
	// by full method name and holds only methods with calls in flight.
	Active         int
	ActiveByMethod map[string]int
	// Started counts the calls admitted since the Conn was created;
	// Finished those that have ended.
	Started  uint64
	Finished uint64
	// Dials counts connection attempts that the channel reported, by
	// entering CONNECTING or by leaving IDLE for READY or
	// TRANSIENT_FAILURE. Retries that grpc makes while it stays in
	// TRANSIENT_FAILURE are not visible here.
	Dials uint64
	// Drops counts connections lost — the channel leaving READY, or falling
	// back from CONNECTING to IDLE — for any reason but the idle timeout and
	// Close. Under round_robin that is the channel as a whole: a backend
	// lost while others stay READY is not counted.
	Drops uint64
}

// Stats returns a snapshot of the Conn's counters and state.
func (c *Conn) Stats() Stats {
	c.mu.Lock()
	st := Stats{
		State:      c.state.current,
		StateSince: c.state.since,
		Dials:      c.state.dials,
		Drops:      c.state.drops,
	}
	c.mu.Unlock()
	st.ActiveByMethod = map[string]int{}
	var active int64
	c.forEachMethod(func(m *Method) {
		// active before started, so that Finished is never negative.
		a := m.active.Load()
		st.Started += m.started.Load()
		active += a
		if a > 0 {
			st.ActiveByMethod[m.desc.FullMethod] += int(a)
		}
	})
	st.Active = int(active)
	st.Finished = st.Started - uint64(active)
	return st
}

func (c *Conn) forEachMethod(f func(*Method)) {
	visit := func(_, v any) bool { f(v.(*Method)); return true }
	c.bound.Range(visit)
	c.dynamic.Range(visit)
}
