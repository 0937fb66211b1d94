package mqttconn

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"venuebox/sync/mqtttest"
)

// BenchmarkPublishInFlight checks the peer that BenchmarkBacklogDrain
// (cmd/internal/box) measures through this package against paho used
// directly: n messages of size bytes at QoS 1, up to 100 waiting for their
// PUBACK, to a subscriber that receives every one, on one Mosquitto. Raw
// paho keeps a window of tokens; the wrapper runs 100 concurrent Publish
// calls, as the drain's peer does. Each side is measured five times,
// alternating, and reported as its median rate. The 54 KB case is the
// size of the drain's batches of 200 check-ins; the 200 B case is the one
// in the perf baselines.
func BenchmarkPublishInFlight(b *testing.B) {
	for _, c := range []struct {
		name    string
		n, size int
	}{{"54KB", 500, 54_000}, {"200B", 20_000, 200}} {
		b.Run(c.name, func(b *testing.B) {
			broker := mqtttest.Start(b, nil)
			payload := make([]byte, c.size)
			for i := range payload {
				payload[i] = byte('a' + i%26)
			}
			var raw, wrapped []float64
			for range b.N {
				for range 5 {
					raw = append(raw, float64(c.n)/pahoInFlight(b, broker.URL, payload, c.n, 100).Seconds())
					wrapped = append(wrapped, float64(c.n)/connInFlight(b, broker.URL, payload, c.n, 100).Seconds())
				}
			}
			r, w := median(raw), median(wrapped)
			b.ReportMetric(r, "paho-msg/s")
			b.ReportMetric(w, "mqttconn-msg/s")
			b.ReportMetric(w/r, "ratio")
			b.ReportMetric(r*float64(c.size)/1e6, "paho-MB/s")
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

var benchClients atomic.Int64

// pahoClient connects a paho client as connect does: clean session, no
// store, no reconnect, callbacks in their own goroutines.
func pahoClient(b *testing.B, url string) mqtt.Client {
	b.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("bench-%d", benchClients.Add(1))).
		SetCleanSession(true).SetAutoReconnect(false).SetOrderMatters(false).SetWriteTimeout(10 * time.Second)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("connect: %v", tok.Error())
	}
	return c
}

// counter returns a handler that closes the returned channel at the n-th
// message.
func counter(n int) (func(), <-chan struct{}) {
	var got atomic.Int64
	all := make(chan struct{})
	return func() {
		if got.Add(1) == int64(n) {
			close(all)
		}
	}, all
}

func waitAll(b *testing.B, all <-chan struct{}) {
	b.Helper()
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		b.Fatal("subscriber did not receive every message")
	}
}

// pahoInFlight publishes with paho directly and returns the time from the
// first publish until the subscriber has every message.
func pahoInFlight(b *testing.B, url string, payload []byte, n, inflight int) time.Duration {
	b.Helper()
	topic := fmt.Sprintf("bench/raw/%d", benchClients.Add(1))
	sub, pub := pahoClient(b, url), pahoClient(b, url)
	defer sub.Disconnect(0)
	defer pub.Disconnect(0)
	count, all := counter(n)
	if tok := sub.Subscribe(topic, 1, func(mqtt.Client, mqtt.Message) { count() }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	window := make([]mqtt.Token, 0, inflight)
	t0 := time.Now()
	for range n {
		if len(window) == inflight {
			if window[0].Wait(); window[0].Error() != nil {
				b.Fatal(window[0].Error())
			}
			window = window[1:]
		}
		window = append(window, pub.Publish(topic, 1, false, payload))
	}
	for _, tok := range window {
		if tok.Wait(); tok.Error() != nil {
			b.Fatal(tok.Error())
		}
	}
	waitAll(b, all)
	return time.Since(t0)
}

// connInFlight publishes the same through Conn.Publish from up to inflight
// goroutines at once.
func connInFlight(b *testing.B, url string, payload []byte, n, inflight int) time.Duration {
	b.Helper()
	topic := fmt.Sprintf("bench/conn/%d", benchClients.Add(1))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	run := func(c *Conn) { wg.Go(func() { c.Run(ctx) }) }
	count, all := counter(n)
	// OnConnect is told after the subscriptions are in place.
	up := make(chan struct{}, 2)
	cfg := func() Config {
		return Config{URL: url, ClientID: fmt.Sprintf("bench-%d", benchClients.Add(1)), OnConnect: func() { up <- struct{}{} }}
	}
	sub, err := New(cfg(), quiet())
	if err != nil {
		b.Fatal(err)
	}
	if err := sub.Subscribe(topic, 1, func(Message) { count() }); err != nil {
		b.Fatal(err)
	}
	pub, err := New(cfg(), quiet())
	if err != nil {
		b.Fatal(err)
	}
	run(sub)
	run(pub)
	for range 2 {
		select {
		case <-up:
		case <-time.After(10 * time.Second):
			b.Fatal("not connected")
		}
	}
	sem := make(chan struct{}, inflight)
	var pubs sync.WaitGroup
	var failed atomic.Value
	t0 := time.Now()
	for range n {
		sem <- struct{}{}
		pubs.Go(func() {
			defer func() { <-sem }()
			if err := pub.Publish(ctx, Message{Topic: topic, Payload: payload, QoS: 1}); err != nil {
				failed.Store(err)
			}
		})
	}
	pubs.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	waitAll(b, all)
	return time.Since(t0)
}
