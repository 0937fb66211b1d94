package config_test

import (
	"fmt"

	"venuebox/cmd/internal/config"
)

func ExampleParseBox() {
	b, err := config.ParseBox([]byte(`
box: {id: gate-1, venue: sh-pudong, org: acme-bank}
state_dir: /var/lib/venuebox
trust: [/etc/venuebox/signing.pub]
devices:
  scanner: {driver: serial, port: /dev/ttyACM0}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b.HTTP.Listen, b.Devices.Scanner.Baud, b.Devices.NFC == nil, b.Policy.DoubleScanWindow)

	_, err = config.ParseBox([]byte(`
box: {id: gate-1, venue: sh-pudong, org: acme-bank}
state_dir: /var/lib/venuebox
trust: [/etc/venuebox/signing.pub]
devices:
  scanner: {driver: serial, port: /dev/ttyACM0, bauds: 9600}
`))
	fmt.Println(err)
	// Output:
	// 127.0.0.1:8080 115200 true 3s
	// config: devices.scanner.bauds: unknown key, did you mean "baud"? (line 6)
}

func ExampleHashPIN() {
	fmt.Println(config.HashPIN("1234"))
	// Output: sha256:03ac674216f3e15c761ee1a5e255f067953623c8b388b4459e13f978d7c846f4
}
