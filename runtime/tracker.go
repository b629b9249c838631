package runtime

import (
	"sync"
	"sync/atomic"
	"time"
)

// tracker counts the calls in flight on a Conn and lets Shutdown wait for
// the last one.
//
// Invariants:
//   - Before drain, active is the number of calls in flight, never negative.
//   - drain adds drainOffset exactly once; from then on every begin fails and
//     active-drainOffset is the number of calls still in flight.
//   - Every begin that returns true is matched by exactly one end.
//   - drained is closed exactly once: when the count of calls in flight is 0
//     after drain.
//
// Folding the drain flag into the counter, as grpc-go's internal/idle does,
// makes "no new call after drain" and "drained when the last call ends" one
// atomic step, with no window for a call to slip in between.
type tracker struct {
	active atomic.Int64
	// idleSince is when active last fell to 0, or the Conn last asked for a
	// connection, in nanoseconds since origin on the monotonic clock: one clock read where time.Now takes two, and a
	// step of the wall clock cannot make an idle Conn look busy or a busy one
	// idle.
	idleSince atomic.Int64
	origin    time.Time
	drained   chan struct{}
	startOnce sync.Once
	closeOnce sync.Once
}

const drainOffset = -1 << 40

func newTracker() *tracker {
	return &tracker{drained: make(chan struct{}), origin: time.Now()}
}

// begin registers a call. It returns false once drain has begun, and the call
// must then not be dispatched.
func (t *tracker) begin() bool {
	if t.active.Add(1) > 0 {
		return true
	}
	t.end()
	return false
}

// end deregisters a call that begin admitted, or undoes a refused begin.
func (t *tracker) end() {
	switch t.active.Add(-1) {
	case 0:
		t.restartIdleClock()
	case drainOffset:
		t.closeDrained()
	}
}

// drain refuses every later begin and returns a channel that is closed when
// the calls in flight have ended. Calling it again returns the same channel.
func (t *tracker) drain() <-chan struct{} {
	t.startOnce.Do(func() {
		if t.active.Add(drainOffset) == drainOffset {
			t.closeDrained()
		}
	})
	return t.drained
}

// closeDrained may be reached both by drain and by the last end.
func (t *tracker) closeDrained() { t.closeOnce.Do(func() { close(t.drained) }) }

// inFlight is the number of calls in flight, whether or not drain has begun.
func (t *tracker) inFlight() int {
	n := t.active.Load()
	if n < 0 {
		n -= drainOffset
	}
	return int(n)
}

// restartIdleClock makes idleFor start again from now.
func (t *tracker) restartIdleClock() { t.idleSince.Store(int64(time.Since(t.origin))) }

// idleFor is how long ago the count last fell to 0, or the tracker's age if
// it never has.
func (t *tracker) idleFor() time.Duration {
	return time.Since(t.origin) - time.Duration(t.idleSince.Load())
}

// draining reports whether drain has begun.
func (t *tracker) draining() bool { return t.active.Load() < 0 }
