package runtime

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc"
)

// DefaultIdleTimeout is how long a Conn stays connected with no call in
// flight before it lets the connection go, as in grpc-go and gRFC A62.
const DefaultIdleTimeout = 30 * time.Minute

// DefaultReconnectJitter bounds the random delay with which the [Eager]
// policy re-dials after a drop.
const DefaultReconnectJitter = 2 * time.Second

// Option configures a [Conn].
type Option func(*config)

type config struct {
	dialOptions   []grpc.DialOption
	reconnect     Reconnect
	balancing     Balancing
	jitter        time.Duration
	idleTimeout   time.Duration
	logger        *slog.Logger
	meterProvider metric.MeterProvider
}

func defaultConfig() config {
	return config{
		reconnect:   OnDemand,
		jitter:      DefaultReconnectJitter,
		idleTimeout: DefaultIdleTimeout,
		logger:      slog.New(slog.DiscardHandler),
	}
}

// WithDialOptions passes options through to [grpc.NewClient]. They are
// applied after the runtime's own, so they can override anything but the
// idle timeout, which belongs to [WithIdleTimeout].
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) { c.dialOptions = append(c.dialOptions, opts...) }
}

// WithReconnect chooses what happens when a READY connection drops.
// The default is [OnDemand].
func WithReconnect(r Reconnect) Option {
	return func(c *config) { c.reconnect = r }
}

// WithLoadBalancing chooses how calls are spread over the addresses the
// target resolves to. The default is [PickFirst]. It sets grpc's default
// service config, so a service config from the resolver, or one given with
// grpc.WithDefaultServiceConfig in [WithDialOptions], wins.
func WithLoadBalancing(b Balancing) Option {
	return func(c *config) { c.balancing = b }
}

// WithReconnectJitter bounds the random delay before the [Eager] policy
// re-dials — the channel, or under [RoundRobin] each backend that dropped —
// so that many clients do not dial in step after a server restart. The delay
// is uniform in [0, max). The default is [DefaultReconnectJitter]; 0
// re-dials at once.
func WithReconnectJitter(max time.Duration) Option {
	return func(c *config) { c.jitter = max }
}

// WithIdleTimeout sets how long the Conn stays connected with no call in
// flight before it closes the connection and goes IDLE. The default is
// [DefaultIdleTimeout]; 0 disables it. The Conn never idles while a call is
// active.
func WithIdleTimeout(d time.Duration) Option {
	return func(c *config) { c.idleTimeout = d }
}

// WithLogger sends a record of every connectivity state transition to l.
// By default nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithMeterProvider records the Conn's metrics through mp. Without it the
// metrics cost nothing. The instruments are listed in the README.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.meterProvider = mp }
}
