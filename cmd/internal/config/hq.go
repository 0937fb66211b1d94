package config

// HQ is the HQ daemon's configuration.
type HQ struct {
	StateDir   string `yaml:"state_dir"`   // the bbolt store and other state; required
	HTTP       HTTP   `yaml:"http"`        // default listen 127.0.0.1:8090
	MQTT       MQTT   `yaml:"mqtt"`        // the broker the boxes use; empty URL runs HQ without one
	SigningKey string `yaml:"signing_key"` // Ed25519 private key file that signs tickets and manifests; required
	TokenFile  string `yaml:"token_file"`  // file holding the bearer token of the writing endpoints; required
	Store      Store  `yaml:"store"`
	Enrol      *Enrol `yaml:"enrol"` // boxes enrolling from a one-time QR (enrol.go); nil: no enrolment
}

// Store is where HQ keeps attendance.
type Store struct {
	// Driver is "bbolt" (the default: one file in StateDir, one HQ) or
	// "postgres" (several HQ replicas sharing one database).
	Driver string `yaml:"driver"`
	// DSN is the PostgreSQL connection string, required with postgres and
	// refused with bbolt.
	DSN string `yaml:"dsn"`
}

// Store drivers.
const (
	StoreBbolt    = "bbolt"
	StorePostgres = "postgres"
)

const defaultHQListen = "127.0.0.1:8090"

// LoadHQ reads the HQ configuration at path, applies defaults, validates it,
// and resolves the relative file names in state_dir, signing_key, token_file
// and mqtt.{ca,cert,key} against the directory that holds path.
func LoadHQ(path string) (*HQ, error) {
	data, dir, err := readFile(path)
	if err != nil {
		return nil, err
	}
	h, err := ParseHQ(data)
	if err != nil {
		return nil, inFile(err, path)
	}
	h.StateDir = resolve(dir, h.StateDir)
	h.SigningKey = resolve(dir, h.SigningKey)
	h.TokenFile = resolve(dir, h.TokenFile)
	h.MQTT.resolve(dir)
	h.Enrol.resolve(dir)
	return h, nil
}

// ParseHQ parses an HQ configuration, applies defaults and validates it.
// File names are left as written.
func ParseHQ(data []byte) (*HQ, error) {
	var h HQ
	lines, err := decode(data, &h)
	if err != nil {
		return nil, err
	}
	h.defaults()
	if e := h.validate(); e != nil {
		e.locate(lines)
		return nil, e
	}
	return &h, nil
}

func (h *HQ) defaults() {
	if h.HTTP.Listen == "" {
		h.HTTP.Listen = defaultHQListen
	}
	if h.Store.Driver == "" {
		h.Store.Driver = StoreBbolt
	}
}

func (h *HQ) validate() *Error {
	if e := fileName("state_dir", h.StateDir, true); e != nil {
		return e
	}
	if e := listen("http.listen", h.HTTP.Listen); e != nil {
		return e
	}
	if e := h.MQTT.validate("mqtt"); e != nil {
		return e
	}
	if e := fileName("signing_key", h.SigningKey, true); e != nil {
		return e
	}
	if e := fileName("token_file", h.TokenFile, true); e != nil {
		return e
	}
	if e := h.Enrol.validate("enrol"); e != nil {
		return e
	}
	switch h.Store.Driver {
	case StoreBbolt:
		if h.Store.DSN != "" {
			return errorf("store.dsn", "only for driver postgres")
		}
	case StorePostgres:
		if h.Store.DSN == "" {
			return errorf("store.dsn", "required with driver postgres")
		}
		if hasControl(h.Store.DSN) {
			return errorf("store.dsn", "has control characters")
		}
	default:
		return errorf("store.driver", "%s is not a driver; want bbolt or postgres", quote(h.Store.Driver))
	}
	return nil
}
