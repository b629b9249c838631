package runtime

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/balancer/pickfirst"
	"google.golang.org/grpc/balancer/roundrobin"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/serviceconfig"
)

// Balancing is the load-balancing policy of a Conn.
type Balancing int

const (
	// PickFirst connects to one address at a time, the first that answers,
	// as grpc does by default. It is lazy in the sense of gRFC A62: after a
	// drop it stays IDLE until a call or Connect asks for a connection.
	PickFirst Balancing = iota
	// RoundRobin spreads calls over every address the resolver returns, one
	// connection per address, with the balancer registered as
	// [RoundRobinBalancerName]. Under OnDemand and WhileActive it is lazy per
	// backend too: a backend whose connection drops while others stay READY
	// is dialled again only when a call is made or Connect is called. Under
	// Eager each backend that drops is re-dialled after its own random delay
	// of up to the jitter bound. One exception: an address that a resolver
	// update brings for the first time is dialled at once, even while the
	// channel is IDLE, because pick_first connects on its first address list.
	RoundRobin
)

// String returns the name of the grpc balancer the policy is built on:
// "pick_first" or "round_robin".
func (b Balancing) String() string {
	switch b {
	case PickFirst:
		return pickfirst.Name
	case RoundRobin:
		return roundrobin.Name
	}
	return "unknown"
}

// RoundRobinBalancerName is the name under which the runtime registers its
// lazy round_robin balancer with grpc, for use in service configs:
//
//	{"loadBalancingConfig": [{"lazyclient_round_robin": {}}]}
//
// With {"eagerJitter": "2s"} as its config it re-dials each backend that
// drops after a random delay of up to that bound, as under [Eager].
const RoundRobinBalancerName = "lazyclient_round_robin"

func init() {
	balancer.Register(lazyRoundRobinBuilder{})
}

// serviceConfig is the default service config that selects the balancing
// policy, or "" for grpc's default, pick_first. A service config from the
// resolver still wins, as it does in grpc.
func (b Balancing) serviceConfig(cfg *config) string {
	if b != RoundRobin {
		return ""
	}
	lb := "{}"
	if cfg.reconnect == Eager {
		lb = fmt.Sprintf(`{"eagerJitter": %q}`, cfg.jitter)
	}
	return `{"loadBalancingConfig": [{"` + RoundRobinBalancerName + `": ` + lb + `}]}`
}

// lbConfig is the lazy round_robin's configuration. With EagerJitter set,
// a backend that drops is re-dialled after a random delay of up to it,
// instead of waiting for a call.
type lbConfig struct {
	serviceconfig.LoadBalancingConfig
	EagerJitter *time.Duration
}

// lazyRoundRobinBuilder builds grpc's round_robin — endpointsharding over
// pick_first children — with auto-reconnect turned off, and wakes IDLE
// children when a call is picked or, with eagerJitter, after a random delay.
type lazyRoundRobinBuilder struct{}

func (lazyRoundRobinBuilder) Name() string { return RoundRobinBalancerName }

func (lazyRoundRobinBuilder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	w := &wakeOnPick{ClientConn: cc}
	return &lazyRoundRobin{w: w, Balancer: endpointsharding.NewBalancer(
		w,
		opts,
		balancer.Get(pickfirst.Name).Build,
		endpointsharding.Options{DisableAutoReconnect: true},
	)}
}

// ParseConfig reads {} or {"eagerJitter": "2s"}.
func (lazyRoundRobinBuilder) ParseConfig(js json.RawMessage) (serviceconfig.LoadBalancingConfig, error) {
	var raw struct{ EagerJitter *string }
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, fmt.Errorf("%s: %v", RoundRobinBalancerName, err)
	}
	var cfg lbConfig
	if raw.EagerJitter != nil {
		d, err := time.ParseDuration(*raw.EagerJitter)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%s: bad eagerJitter %q", RoundRobinBalancerName, *raw.EagerJitter)
		}
		cfg.EagerJitter = &d
	}
	return &cfg, nil
}

type lazyRoundRobin struct {
	balancer.Balancer
	w *wakeOnPick
}

// UpdateClientConnState enables the children's health listener, as grpc's
// round_robin does, so that health checks and outlier detection still work.
// The children, pick_first, get no config of their own.
func (b *lazyRoundRobin) UpdateClientConnState(s balancer.ClientConnState) error {
	if cfg, ok := s.BalancerConfig.(*lbConfig); ok {
		b.w.setEagerJitter(cfg.EagerJitter)
	}
	return b.Balancer.UpdateClientConnState(balancer.ClientConnState{
		ResolverState: pickfirst.EnableHealthListener(s.ResolverState),
	})
}

// Close stops the pending re-dials, then the children.
func (b *lazyRoundRobin) Close() {
	b.w.close()
	b.Balancer.Close()
}

// wakeOnPick sits between endpointsharding and the channel. While some
// children are IDLE and others are not, the channel's state is READY,
// CONNECTING or TRANSIENT_FAILURE, so no IDLE picker runs and nothing would
// ever dial the IDLE children again. wakeOnPick wraps the picker so that the
// first call picked asks every IDLE child to connect.
//
// When every child is IDLE the channel is IDLE, and the children's own idle
// pickers, like the channel's Connect, start the connection; nothing is
// wrapped then.
//
// Under Eager it re-dials instead each child that drops from READY, after a
// random delay of its own.
type wakeOnPick struct {
	balancer.ClientConn

	mu sync.Mutex // guards the fields below
	// eagerJitter, when set, bounds the delay of an eager re-dial.
	eagerJitter *time.Duration
	// up holds the children seen out of IDLE since they were last IDLE, by
	// their first address; redials the re-dials scheduled. closed is set by
	// Close.
	up      map[string]bool
	redials map[*time.Timer]bool
	closed  bool
}

func (w *wakeOnPick) setEagerJitter(d *time.Duration) {
	w.mu.Lock()
	w.eagerJitter = d
	w.mu.Unlock()
}

func (w *wakeOnPick) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for t := range w.redials {
		t.Stop()
	}
}

func (w *wakeOnPick) UpdateState(s balancer.State) {
	children := endpointsharding.ChildStatesFromPicker(s.Picker)
	w.redialDropped(children)
	if s.ConnectivityState != connectivity.Idle {
		var idle []func()
		for _, c := range children {
			if c.State.ConnectivityState == connectivity.Idle {
				idle = append(idle, c.ExitIdle) // asynchronous, safe from Pick
			}
		}
		if len(idle) > 0 {
			s.Picker = &wakingPicker{Picker: s.Picker, wake: sync.OnceFunc(func() {
				for _, exitIdle := range idle {
					exitIdle()
				}
			})}
		}
	}
	w.ClientConn.UpdateState(s)
}

// wakingPicker wakes the IDLE children once, on its first pick, then picks as
// the picker it wraps.
type wakingPicker struct {
	balancer.Picker
	wake func()
}

func (p *wakingPicker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	p.wake()
	return p.Picker.Pick(info)
}

// redialDropped schedules, under Eager, a re-dial of each child that went
// back to IDLE since the last update, its connection lost. A child that has
// not left IDLE since it was created or last re-dialled is left alone, so
// that nothing is dialled before a call asks for it.
func (w *wakeOnPick) redialDropped(children []endpointsharding.ChildState) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.eagerJitter == nil || w.closed {
		return
	}
	if w.up == nil {
		w.up, w.redials = map[string]bool{}, map[*time.Timer]bool{}
	}
	for _, c := range children {
		if len(c.Endpoint.Addresses) == 0 {
			continue
		}
		key := c.Endpoint.Addresses[0].Addr
		if c.State.ConnectivityState != connectivity.Idle {
			w.up[key] = true
		} else if w.up[key] {
			delete(w.up, key)
			var t *time.Timer
			exitIdle := c.ExitIdle
			t = time.AfterFunc(jitterDelay(*w.eagerJitter), func() {
				w.mu.Lock()
				delete(w.redials, t)
				closed := w.closed
				w.mu.Unlock()
				if !closed {
					exitIdle()
				}
			})
			w.redials[t] = true
		}
	}
}
