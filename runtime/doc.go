// Package runtime is the connection manager behind the client stubs that
// protoc-gen-lazyclient generates.
//
// A [Conn] wraps a [grpc.ClientConn] and adds what grpc-go keeps internal or
// leaves to the application:
//
//   - an exact count of the calls in flight, in total and per method
//     ([Conn.Active], [Conn.Stats]);
//   - a reconnect policy ([WithReconnect]); the default, [OnDemand], is the
//     rule of gRFC A62: a dropped connection is dialled again only when a call
//     or [Conn.Connect] asks for it;
//   - load balancing that stays lazy: pick_first, or a round_robin that
//     re-dials a backend only when a call needs it ([WithLoadBalancing]);
//   - an idle timeout that never takes a connection with calls in flight
//     ([WithIdleTimeout]);
//   - a bounded, explicit connect ([Conn.Connect]);
//   - a graceful drain ([Conn.Shutdown]), whose refusals are
//     [ErrShuttingDown];
//   - the call policy declared in the .proto (wait-for-ready, a default
//     timeout), applied by the generated stubs through [MethodDesc];
//   - state transitions as log/slog records ([WithLogger]) and OpenTelemetry
//     metrics ([WithMeterProvider]).
//
// Generated code binds each method once, with [Conn.Method], and dispatches
// through [Invoke], [NewServerStream], [NewClientStream] and
// [NewBidiStream]. Every call is registered before it is dispatched and
// deregistered exactly once when it is over, whatever the caller does.
package runtime

// SupportPackageIsVersion1 is referenced by generated code so that a stub
// generated for a newer runtime fails to compile against an older one,
// instead of misbehaving.
const SupportPackageIsVersion1 = true
