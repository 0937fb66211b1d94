package mqtttest

import (
	"net"
	"strconv"
	"testing"
)

func dial(port int) error {
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err == nil {
		c.Close()
	}
	return err
}

func TestBroker_stopRestart(t *testing.T) {
	b := Start(t, &Options{Persistence: true})
	if err := dial(b.Port); err != nil {
		t.Fatalf("broker not reachable: %v", err)
	}
	b.Stop()
	if b.Running() {
		t.Fatal("Running after Stop")
	}
	if err := dial(b.Port); err == nil {
		t.Fatal("broker still reachable after Stop")
	}
	b.Start()
	if err := dial(b.Port); err != nil {
		t.Fatalf("broker not reachable after Start: %v", err)
	}
	b.Kill()
	b.Restart()
	if err := dial(b.Port); err != nil {
		t.Fatalf("broker not reachable after Restart: %v", err)
	}
}
