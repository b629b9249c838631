package runtime

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/connectivity"
)

// Reconnect is what a Conn does when a READY connection drops.
type Reconnect int

const (
	// OnDemand is gRFC A62's rule: after a drop the channel stays IDLE and
	// dials again only when a call is made or Connect is called — not on a
	// resolver update, a timer or a GOAWAY.
	OnDemand Reconnect = iota
	// WhileActive re-dials at once if any call was in flight when the
	// connection was lost, counting the calls the loss itself ended;
	// otherwise it behaves as OnDemand. A call counts if it was still
	// registered when the Conn saw the drop, or if it ended with
	// codes.Unavailable since the connection became READY, so the order in
	// which grpc fails the calls and reports the drop does not matter. (A
	// call the server itself ended with UNAVAILABLE counts too.)
	WhileActive
	// Eager re-dials after every drop, after a random delay of up to the
	// jitter bound ([WithReconnectJitter]) so that a fleet of clients does
	// not dial in step. An IDLE entered through the idle timeout is left
	// alone.
	Eager
)

// String returns the policy's name: "on_demand", "while_active" or "eager".
func (r Reconnect) String() string {
	switch r {
	case OnDemand:
		return "on_demand"
	case WhileActive:
		return "while_active"
	case Eager:
		return "eager"
	}
	return "unknown"
}

// Causes of state transitions, as logged. A transition grpc makes on its own
// has none.
const (
	causeCall        = "call"
	causeConnect     = "connect"
	causePolicy      = "reconnect policy"
	causeDrop        = "connection lost"
	causeIdleTimeout = "idle timeout"
	causeClose       = "close"
	causeUnseen      = "unseen" // a state the watcher inferred, too brief to see
)

// connState is what the watcher knows of the channel; Conn.mu guards it.
type connState struct {
	current    connectivity.State
	since      time.Time
	dials      uint64
	drops      uint64
	cause      string // of the next transition, set by whoever asked for it
	eagerTimer *time.Timer
}

// requestConnect asks grpc to connect and remembers why, for the log.
//
// It also restarts the idle clock: grpc restarts its idle timer when it
// leaves idle mode, and a Conn kept busy by Connect alone would otherwise
// look idle for longer than it has been.
func (c *Conn) requestConnect(cause string) {
	c.tracker.restartIdleClock()
	c.mu.Lock()
	if c.state.cause == "" {
		c.state.cause = cause
	}
	c.mu.Unlock()
	c.cc.Connect()
}

// watch follows the channel's state until ctx ends. It is the only writer of
// connState.current, so transitions are seen, counted and acted on in order.
//
// It samples the state, so it may miss one that lasts less than its own
// wake-up: a READY between CONNECTING and IDLE, or a whole cycle. grpc wakes
// it only on a change, so a wake-up that finds the state it left means the
// state went away and came back; the most likely state in between is
// recorded, so that a connection that came and went unseen is still counted
// and still reaches the reconnect policy.
func (c *Conn) watch(ctx context.Context) {
	seen := connectivity.Idle
	for c.cc.WaitForStateChange(ctx, seen) {
		s := c.cc.GetState()
		if s == connectivity.Shutdown {
			return // Close records it, with its cause
		}
		c.needConnect.Store(s == connectivity.Idle)
		if s == seen {
			c.recordTransition(unseenBetween(s), causeUnseen)
		}
		c.recordTransition(s, "")
		seen = s
	}
}

// unseenBetween is the state the channel most likely passed through when it
// left s and came back to it unseen: a connection attempt from IDLE, a
// drop from READY, a connection otherwise.
func unseenBetween(s connectivity.State) connectivity.State {
	switch s {
	case connectivity.Idle:
		return connectivity.Connecting
	case connectivity.Ready:
		return connectivity.Idle
	}
	return connectivity.Ready
}

// recordTransition counts, logs and applies the reconnect policy to the
// transition from the last seen state to s.
func (c *Conn) recordTransition(s connectivity.State, cause string) {
	c.mu.Lock()
	from := c.state.current
	if from == s || from == connectivity.Shutdown {
		c.mu.Unlock()
		return
	}
	if cause == "" {
		cause, c.state.cause = c.state.cause, ""
	}
	// CONNECTING may pass unseen on a fast network: IDLE to READY or to
	// TRANSIENT_FAILURE is a dial all the same. A return to READY from sticky
	// TRANSIENT_FAILURE is one of grpc's retries, which stay out of sight.
	dialed := s == connectivity.Connecting ||
		(from == connectivity.Idle && (s == connectivity.Ready || s == connectivity.TransientFailure))
	if dialed {
		c.state.dials++
	}
	if s == connectivity.Ready {
		c.callLost.Store(false)
	}
	// A READY that left, or a CONNECTING that fell back to IDLE, is a lost
	// connection: pick_first reports IDLE from CONNECTING when a transport
	// fails before it is reported READY, and the watcher may miss a READY.
	var dropped bool
	if (from == connectivity.Ready && s != connectivity.Shutdown) ||
		(from == connectivity.Connecting && s == connectivity.Idle) {
		if c.idleTimedOut(s) {
			cause = causeIdleTimeout
		} else {
			dropped = true
			cause = causeDrop
			c.state.drops++
		}
	}
	c.state.current, c.state.since = s, time.Now()
	c.mu.Unlock()

	if c.metrics != nil {
		c.metrics.transition(dialed, dropped)
	}
	attrs := []slog.Attr{
		slog.String("target", c.target), slog.String("from", from.String()),
		slog.String("to", s.String()), slog.Int("active", c.Active()),
	}
	if cause != "" {
		attrs = append(attrs, slog.String("cause", cause))
	}
	c.logger().LogAttrs(context.Background(), slog.LevelInfo, "lazyclient: connectivity state changed", attrs...)
	if dropped {
		c.onDrop()
	}
}

// idleTimedOut tells an IDLE entered through the idle timeout from a drop.
// grpc enters idle mode no sooner than the timeout after its last call ended
// (internal/idle), and it sees a call end just before the tracker does, so
// idleSince is at most a little late. The slack covers that gap; a drop in
// the last moments before the timeout would have idled the channel anyway.
func (c *Conn) idleTimedOut(s connectivity.State) bool {
	d := c.cfg.idleTimeout
	if s != connectivity.Idle || d == 0 || c.tracker.inFlight() > 0 {
		return false
	}
	return c.tracker.idleFor() >= d-min(d/10, idleSlack)
}

// idleSlack caps the slack of idleTimedOut.
const idleSlack = 100 * time.Millisecond

// onDrop applies the reconnect policy to a READY connection that was lost.
func (c *Conn) onDrop() {
	switch c.cfg.reconnect {
	case WhileActive:
		// The count first: a call that ends records callLost before it
		// leaves the count, so one of the two reads sees it.
		if c.tracker.inFlight() > 0 || c.callLost.Swap(false) {
			c.requestConnect(causePolicy)
		}
	case Eager:
		c.mu.Lock()
		if c.state.eagerTimer == nil && !c.closed.Load() {
			c.state.eagerTimer = time.AfterFunc(jitterDelay(c.cfg.jitter), c.eagerReconnect)
		}
		c.mu.Unlock()
	}
}

// jitterDelay is an Eager re-dial's delay: uniform in [0, max), or none.
func jitterDelay(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return rand.N(max)
}

func (c *Conn) eagerReconnect() {
	c.mu.Lock()
	c.state.eagerTimer = nil
	c.mu.Unlock()
	if !c.closed.Load() && c.cc.GetState() == connectivity.Idle {
		c.requestConnect(causePolicy)
	}
}

// stopPolicy cancels a pending Eager re-dial; Close calls it once the
// watcher has stopped, so that no new one can be scheduled.
func (c *Conn) stopPolicy() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.eagerTimer != nil {
		c.state.eagerTimer.Stop()
		c.state.eagerTimer = nil
	}
}

func (c *Conn) logger() *slog.Logger { return c.cfg.logger }
