package runtime

import (
	"sync"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/balancer/pickfirst"
	"google.golang.org/grpc/balancer/roundrobin"
	"google.golang.org/grpc/connectivity"
)

// Balancing is the load-balancing policy of a Conn.
type Balancing int

const (
	// PickFirst connects to one address at a time, the first that answers,
	// as grpc does by default. It is lazy in the sense of gRFC A62: after a
	// drop it stays IDLE until a call or Connect asks for a connection.
	PickFirst Balancing = iota
	// RoundRobin spreads calls over every address the resolver returns, one
	// connection per address. Under OnDemand and WhileActive it uses the
	// balancer registered as [RoundRobinBalancerName], which is lazy per
	// backend too: a backend whose connection drops while others stay READY
	// is dialled again only when a call is made or Connect is called. Under
	// Eager it is grpc's round_robin, which re-dials such a backend at once.
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
const RoundRobinBalancerName = "lazyclient_round_robin"

func init() {
	balancer.Register(lazyRoundRobinBuilder{})
}

// serviceConfig is the default service config that selects the balancing
// policy for the reconnect policy r, or "" for grpc's default, pick_first.
// A service config from the resolver still wins, as it does in grpc.
func (b Balancing) serviceConfig(r Reconnect) string {
	if b != RoundRobin {
		return ""
	}
	name := RoundRobinBalancerName
	if r == Eager {
		name = roundrobin.Name
	}
	return `{"loadBalancingConfig": [{"` + name + `": {}}]}`
}

// lazyRoundRobinBuilder builds grpc's round_robin — endpointsharding over
// pick_first children — with auto-reconnect turned off, and wakes IDLE
// children when a call is picked.
type lazyRoundRobinBuilder struct{}

func (lazyRoundRobinBuilder) Name() string { return RoundRobinBalancerName }

func (lazyRoundRobinBuilder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	return &lazyRoundRobin{Balancer: endpointsharding.NewBalancer(
		&wakeOnPick{ClientConn: cc},
		opts,
		balancer.Get(pickfirst.Name).Build,
		endpointsharding.Options{DisableAutoReconnect: true},
	)}
}

type lazyRoundRobin struct {
	balancer.Balancer
}

// UpdateClientConnState enables the children's health listener, as grpc's
// round_robin does, so that health checks and outlier detection still work.
func (b *lazyRoundRobin) UpdateClientConnState(s balancer.ClientConnState) error {
	return b.Balancer.UpdateClientConnState(balancer.ClientConnState{
		ResolverState: pickfirst.EnableHealthListener(s.ResolverState),
	})
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
type wakeOnPick struct {
	balancer.ClientConn
}

func (w *wakeOnPick) UpdateState(s balancer.State) {
	if s.ConnectivityState != connectivity.Idle {
		var idle []func()
		for _, c := range endpointsharding.ChildStatesFromPicker(s.Picker) {
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
