// Package mqttconn wraps the paho MQTT client, and is the only package of the
// project that imports it. It keeps one connection up for as long as Run
// runs: it connects with exponential backoff and jitter (not paho's own
// reconnect), subscribes again after every connect (the session is clean,
// so the broker forgets subscriptions), sets the last will, publishes the
// birth message the caller supplies, and runs handlers outside paho's
// goroutines. Nothing here stores messages: a publish either reaches the
// broker (PUBACK) or returns an error, and the caller keeps its own outbox.
package mqttconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// ErrNotConnected is returned by Publish while no connection is up.
var ErrNotConnected = errors.New("mqttconn: not connected")

// A Message is one MQTT message, received or to send.
type Message struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retained bool
}

// A Handler receives the messages of one subscription. It runs on its own
// goroutine, never on paho's; the broker's PUBACK for a QoS 1 message is
// sent when it returns, so a handler that waits applies back-pressure.
type Handler func(Message)

// Config describes the connection.
type Config struct {
	// URL is tcp://host:port, or tls://host:port (also ssl://, mqtts://).
	URL string
	// ClientID must be unique on the broker.
	ClientID string
	// CAFile, CertFile and KeyFile are PEM files for TLS: the CA that
	// signed the broker's certificate, and this client's certificate and
	// key (its CN is its identity on a broker with use_identity_as_username).
	CAFile, CertFile, KeyFile string
	// Username and Password, if the broker asks for them.
	Username, Password string
	// KeepAlive is the MQTT keep-alive (default 15 s); a dead link is
	// noticed after about 1.5 times this.
	KeepAlive time.Duration
	// ConnectTimeout bounds one connection attempt (default 10 s).
	ConnectTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts
	// (defaults 250 ms and 30 s).
	MinBackoff, MaxBackoff time.Duration
	// Will, if set, is called before each connection attempt; its message
	// is the last will, published by the broker if that connection dies
	// without a clean disconnect.
	Will func() *Message
	// Birth, if set, is called after each connect and subscribe; the
	// message it returns is published (retained as it says).
	Birth func() *Message
	// Goodbye, if set, is called before a clean disconnect; its message is
	// published first, because a clean disconnect suppresses the will.
	Goodbye func() *Message
	// OnConnect and OnLost, if set, are told of each connect and loss.
	OnConnect func()
	OnLost    func(error)
	// OnConnectFailed, if set, is told of each failed connection attempt.
	OnConnectFailed func(error)
	// After waits; nil means time.After. Tests inject a faster clock.
	After func(time.Duration) <-chan time.Time
}

// A Conn keeps one MQTT connection up.
type Conn struct {
	cfg Config
	log *slog.Logger
	tls *tls.Config

	mu     sync.Mutex
	client mqtt.Client
	subs   []sub

	connected atomic.Bool
	lost      chan error
}

type sub struct {
	filter string
	qos    byte
	h      Handler
}

// New checks the configuration and loads the TLS files; it does not connect.
func New(cfg Config, log *slog.Logger) (*Conn, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("mqttconn: url: %w", err)
	}
	if cfg.ClientID == "" {
		return nil, errors.New("mqttconn: no client id")
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 15 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.MinBackoff)
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	c := &Conn{cfg: cfg, log: log.With("mqtt", cfg.ClientID), lost: make(chan error, 1)}
	switch u.Scheme {
	case "tcp", "mqtt":
	case "tls", "ssl", "mqtts", "tcps":
		c.tls, err = TLSConfig(cfg.CAFile, cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("mqttconn: url scheme %q: want tcp or tls", u.Scheme)
	}
	return c, nil
}

// TLSConfig builds a client TLS configuration from PEM files: caFile is
// required, certFile and keyFile go together.
func TLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return nil, errors.New("mqttconn: tls: no CA file")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("mqttconn: tls: %w", err)
	}
	tc.RootCAs = x509.NewCertPool()
	if !tc.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("mqttconn: tls: no certificate in %s", caFile)
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("mqttconn: tls: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Subscribe registers a handler for filter (which may be a $share/...
// filter). It is subscribed at once if connected and after every connect.
func (c *Conn) Subscribe(filter string, qos byte, h Handler) error {
	// connect copies the list and marks the connection up under mu, so a
	// subscription is either in its copy or made here, never neither.
	c.mu.Lock()
	c.subs = append(c.subs, sub{filter, qos, h})
	client, up := c.client, c.connected.Load()
	c.mu.Unlock()
	if client == nil || !up {
		return nil
	}
	return c.subscribe(client, sub{filter, qos, h})
}

func (c *Conn) subscribe(client mqtt.Client, s sub) error {
	tok := client.Subscribe(s.filter, s.qos, func(_ mqtt.Client, m mqtt.Message) {
		s.h(Message{Topic: m.Topic(), Payload: m.Payload(), QoS: m.Qos(), Retained: m.Retained()})
	})
	if !tok.WaitTimeout(c.cfg.ConnectTimeout) {
		return fmt.Errorf("mqttconn: subscribe %s: timeout", s.filter)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("mqttconn: subscribe %s: %w", s.filter, err)
	}
	if st, ok := tok.(*mqtt.SubscribeToken); ok {
		for _, code := range st.Result() {
			if code == 0x80 {
				return fmt.Errorf("mqttconn: subscribe %s: refused by broker", s.filter)
			}
		}
	}
	return nil
}

// Connected reports whether a connection is up now.
func (c *Conn) Connected() bool { return c.connected.Load() }

// Publish sends one message and waits for the broker's PUBACK (QoS 1) or
// for the write (QoS 0), or for ctx.
func (c *Conn) Publish(ctx context.Context, m Message) error {
	c.mu.Lock()
	client := c.client
	c.mu.Unlock()
	if client == nil || !c.connected.Load() || !client.IsConnectionOpen() {
		return ErrNotConnected
	}
	tok := client.Publish(m.Topic, m.QoS, m.Retained, m.Payload)
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return fmt.Errorf("mqttconn: publish %s: %w", m.Topic, ctx.Err())
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("mqttconn: publish %s: %w", m.Topic, err)
	}
	return nil
}

// Backoff returns the wait before connection attempt n (0-based): it
// doubles from min up to max, and a random part in [d/2, d) spreads boxes
// that lost the broker at the same moment. r returns a float in [0, 1).
func Backoff(n int, min, max time.Duration, r func() float64) time.Duration {
	d := min
	for i := 0; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + time.Duration(r()*float64(d/2))
}

// Run connects and keeps the connection up until ctx ends; then it
// publishes the goodbye message, disconnects cleanly and returns nil.
func (c *Conn) Run(ctx context.Context) error {
	attempt := 0
	for {
		client, err := c.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if c.cfg.OnConnectFailed != nil {
				c.cfg.OnConnectFailed(err)
			}
			wait := Backoff(attempt, c.cfg.MinBackoff, c.cfg.MaxBackoff, rand.Float64)
			attempt++
			c.log.Debug("mqtt connect failed", "err", err, "retry_in", wait)
			select {
			case <-ctx.Done():
				return nil
			case <-c.cfg.After(wait):
			}
			continue
		}
		attempt = 0
		select {
		case <-ctx.Done():
			c.disconnect(client)
			return nil
		case err := <-c.lost:
			c.setDown(client)
			c.log.Info("mqtt connection lost", "err", err)
			if c.cfg.OnLost != nil {
				c.cfg.OnLost(err)
			}
		}
	}
}

func (c *Conn) setDown(client mqtt.Client) {
	c.connected.Store(false)
	c.mu.Lock()
	if c.client == client {
		c.client = nil
	}
	c.mu.Unlock()
}

func (c *Conn) connect(ctx context.Context) (mqtt.Client, error) {
	o := mqtt.NewClientOptions().AddBroker(c.cfg.URL).SetClientID(c.cfg.ClientID).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetOrderMatters(false).SetKeepAlive(c.cfg.KeepAlive).SetPingTimeout(c.cfg.KeepAlive/2 + time.Second).
		SetConnectTimeout(c.cfg.ConnectTimeout).SetWriteTimeout(c.cfg.ConnectTimeout).
		SetUsername(c.cfg.Username).SetPassword(c.cfg.Password)
	if c.tls != nil {
		o.SetTLSConfig(c.tls)
	}
	if c.cfg.Will != nil {
		if w := c.cfg.Will(); w != nil {
			o.SetBinaryWill(w.Topic, w.Payload, w.QoS, w.Retained)
		}
	}
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		select {
		case c.lost <- err:
		default:
		}
	})
	// Drain a stale loss signal from the previous connection.
	select {
	case <-c.lost:
	default:
	}
	client := mqtt.NewClient(o)
	tok := client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		go client.Disconnect(0)
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("mqttconn: connect %s: %w", c.cfg.URL, err)
	}
	c.mu.Lock()
	c.client = client
	subs := append([]sub(nil), c.subs...)
	c.connected.Store(true)
	c.mu.Unlock()
	for _, s := range subs {
		if err := c.subscribe(client, s); err != nil {
			c.setDown(client)
			client.Disconnect(0)
			return nil, err
		}
	}
	if c.cfg.Birth != nil {
		if m := c.cfg.Birth(); m != nil {
			if err := c.Publish(ctx, *m); err != nil {
				c.setDown(client)
				client.Disconnect(0)
				return nil, fmt.Errorf("mqttconn: birth: %w", err)
			}
		}
	}
	c.log.Info("mqtt connected", "url", c.cfg.URL)
	if c.cfg.OnConnect != nil {
		c.cfg.OnConnect()
	}
	return client, nil
}

func (c *Conn) disconnect(client mqtt.Client) {
	if c.cfg.Goodbye != nil {
		if m := c.cfg.Goodbye(); m != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			if err := c.Publish(ctx, *m); err != nil {
				c.log.Warn("mqtt goodbye not sent", "err", err)
			}
			cancel()
		}
	}
	c.setDown(client)
	client.Disconnect(250)
}
