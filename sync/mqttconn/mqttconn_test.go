package mqttconn

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"venuebox/sync/mqtttest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func start(t *testing.T, cfg Config) *Conn {
	t.Helper()
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 200*time.Millisecond
	}
	c, err := New(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return c
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBackoff_growsAndCaps(t *testing.T) {
	zero, one := func() float64 { return 0 }, func() float64 { return 0.999999 }
	if got := Backoff(0, time.Second, time.Minute, zero); got != 500*time.Millisecond {
		t.Fatalf("Backoff(0) = %v", got)
	}
	if got := Backoff(3, time.Second, time.Minute, zero); got != 4*time.Second {
		t.Fatalf("Backoff(3) = %v", got)
	}
	if got := Backoff(100, time.Second, time.Minute, one); got > time.Minute || got < 59*time.Second {
		t.Fatalf("Backoff(100) = %v", got)
	}
}

func TestConn_resubscribesAfterBrokerRestart(t *testing.T) {
	b := mqtttest.Start(t, nil)
	var got atomic.Int64
	var connects atomic.Int64
	sub := start(t, Config{URL: b.URL, ClientID: "sub", OnConnect: func() { connects.Add(1) }})
	if err := sub.Subscribe("$share/g/t/+", 1, func(Message) { got.Add(1) }); err != nil {
		t.Fatal(err)
	}
	pub := start(t, Config{URL: b.URL, ClientID: "pub"})
	waitFor(t, "connect", func() bool { return sub.Connected() && pub.Connected() })
	ctx := context.Background()
	if err := pub.Publish(ctx, Message{Topic: "t/1", Payload: []byte("a"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first message", func() bool { return got.Load() == 1 })

	b.Restart()
	waitFor(t, "reconnect", func() bool { return connects.Load() >= 2 && pub.Connected() })
	for {
		err := pub.Publish(ctx, Message{Topic: "t/2", Payload: []byte("b"), QoS: 1})
		if err == nil {
			break
		}
		if !errors.Is(err, ErrNotConnected) {
			t.Logf("publish: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, "message after restart", func() bool { return got.Load() == 2 })
}

func TestConn_publishWhileDown(t *testing.T) {
	b := mqtttest.Start(t, nil)
	b.Stop()
	c := start(t, Config{URL: b.URL, ClientID: "x"})
	if err := c.Publish(context.Background(), Message{Topic: "t", QoS: 1}); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Publish = %v, want ErrNotConnected", err)
	}
	b.Start()
	waitFor(t, "connect after broker start", c.Connected)
}

func TestConn_willAndGoodbye(t *testing.T) {
	b := mqtttest.Start(t, nil)
	var last atomic.Value
	watch := start(t, Config{URL: b.URL, ClientID: "watch"})
	if err := watch.Subscribe("state/#", 1, func(m Message) { last.Store(string(m.Payload)) }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "watch connect", watch.Connected)
	c, err := New(Config{URL: b.URL, ClientID: "box",
		Will:    func() *Message { return &Message{Topic: "state/box", Payload: []byte("dead"), QoS: 1, Retained: true} },
		Birth:   func() *Message { return &Message{Topic: "state/box", Payload: []byte("born"), QoS: 1, Retained: true} },
		Goodbye: func() *Message { return &Message{Topic: "state/box", Payload: []byte("bye"), QoS: 1, Retained: true} },
	}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "birth", func() bool { v, _ := last.Load().(string); return v == "born" })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "goodbye", func() bool { v, _ := last.Load().(string); return v == "bye" })
}

func TestNew_rejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{URL: "tcp://127.0.0.1:1", ClientID: ""},
		{URL: "http://127.0.0.1:1", ClientID: "a"},
		{URL: "tls://127.0.0.1:1", ClientID: "a"},
		{URL: "tls://127.0.0.1:1", ClientID: "a", CAFile: "/nonexistent"},
	} {
		if _, err := New(cfg, quiet()); err == nil {
			t.Fatalf("New(%+v) accepted", cfg)
		}
	}
}
