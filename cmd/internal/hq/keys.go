package hq

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"venuebox/cmd/internal/manifest"
	"venuebox/cmd/internal/ticket"
)

// Key rotation. HQ signs tickets, manifests and revocations with its
// current key: the configuration's signing_key until a rotation, then the
// key activated last. Rotating is three steps, so that no gate ever sees a
// code or manifest it cannot verify:
//
//  1. POST /api/keys makes the next key (state_dir/keys/ID/signing.key);
//     GET /api/keys/ID.pub is its public half.
//  2. The boxes get it in their trust: list (they trust several keys).
//  3. POST /api/keys/ID/activate: new tickets and every manifest from now
//     on are signed with it (HQ re-signs each event's manifest as a new
//     version). Tickets signed before keep their codes and stay valid at
//     every box that still trusts the old key; GET /api/keys says until
//     when each old key is needed: the end of the last event holding
//     tickets it signed.
//
// Revocations are signed with the key HQ started with until its next
// start; keep the old key trusted until then.

// keyFile is state_dir/keys/keys.json.
type keyFile struct {
	Current string     `json:"current"`
	Keys    []keyEntry `json:"keys"`
}

type keyEntry struct {
	ID        string    `json:"id"`
	Path      string    `json:"path"` // the private key file
	Created   time.Time `json:"created"`
	Activated time.Time `json:"activated,omitzero"`
}

func keysDir(stateDir string) string { return filepath.Join(stateDir, "keys") }

// loadKeys returns HQ's current signing key: the configured one, or the one
// activated by a rotation since, and the file that lists them.
func loadKeys(stateDir string, configured ed25519.PrivateKey, configuredPath string) (ed25519.PrivateKey, keyFile, error) {
	var kf keyFile
	path := filepath.Join(keysDir(stateDir), "keys.json")
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		id := ticket.KeyIDOf(configured.Public().(ed25519.PublicKey)).String()
		kf = keyFile{Current: id, Keys: []keyEntry{{ID: id, Path: configuredPath, Created: time.Now().UTC(), Activated: time.Now().UTC()}}}
		return configured, kf, nil
	case err != nil:
		return nil, kf, fmt.Errorf("hq: keys: %w", err)
	}
	if err := json.Unmarshal(raw, &kf); err != nil {
		return nil, kf, fmt.Errorf("hq: keys: %s: %w", path, err)
	}
	for _, k := range kf.Keys {
		if k.ID == kf.Current {
			priv, err := ticket.LoadPrivateKey(k.Path)
			if err != nil {
				return nil, kf, fmt.Errorf("hq: current key: %w", err)
			}
			return priv, kf, nil
		}
	}
	return nil, kf, fmt.Errorf("hq: keys: current key %s not listed in %s", kf.Current, path)
}

func (o *office) saveKeys() error {
	raw, err := json.MarshalIndent(o.keys, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.keysDir, 0o700); err != nil {
		return err
	}
	return writeFileSync(filepath.Join(o.keysDir, "keys.json"), raw)
}

// KeyStatus is one signing key as GET /api/keys shows it.
type KeyStatus struct {
	ID        string     `json:"id"`
	Current   bool       `json:"current"`
	Created   time.Time  `json:"created"`
	Activated *time.Time `json:"activated,omitempty"`
	// Tickets counts the tickets it signed that are not revoked;
	// NeededUntil is the end of the last of their events (absent while
	// one of them has no end), after which boxes may stop trusting it.
	Tickets     int        `json:"tickets"`
	NeededUntil *time.Time `json:"needed_until,omitempty"`
	OpenEnded   bool       `json:"open_ended,omitempty"`
}

func (h *HQ) serveKeys(w http.ResponseWriter, r *http.Request) {
	o := h.office
	o.mu.Lock()
	kf := o.keys
	o.mu.Unlock()
	events, err := h.office.st.Events()
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "events unavailable", err)
		return
	}
	out := make([]KeyStatus, 0, len(kf.Keys))
	byID := map[string]*KeyStatus{}
	for _, k := range kf.Keys {
		out = append(out, KeyStatus{ID: k.ID, Current: k.ID == kf.Current, Created: k.Created, Activated: optTime(k.Activated)})
	}
	for i := range out {
		byID[out[i].ID] = &out[i]
	}
	for _, ev := range events {
		as, err := h.office.st.Attendees(ev.ID)
		if err != nil {
			h.fail(w, http.StatusInternalServerError, "attendees unavailable", err)
			return
		}
		for _, a := range as {
			k := byID[a.Key]
			if k == nil || a.Revoked {
				continue
			}
			k.Tickets++
			switch {
			case ev.End.IsZero():
				k.OpenEnded = true
			case k.NeededUntil == nil || ev.End.After(*k.NeededUntil):
				end := ev.End
				k.NeededUntil = &end
			}
		}
	}
	for i := range out {
		if out[i].OpenEnded {
			out[i].NeededUntil = nil
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// serveKeyCreate makes the next signing key, not yet in use.
func (h *HQ) serveKeyCreate(w http.ResponseWriter, r *http.Request) {
	o := h.office
	tmp, err := os.MkdirTemp(o.keysDir, ".new-")
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "key not made", err)
		return
	}
	id, err := ticket.GenerateKey(tmp)
	if err != nil {
		os.RemoveAll(tmp)
		h.fail(w, http.StatusInternalServerError, "key not made", err)
		return
	}
	dir := filepath.Join(o.keysDir, id.String())
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		h.fail(w, http.StatusConflict, "a key with that id exists already; make another", err)
		return
	}
	o.mu.Lock()
	o.keys.Keys = append(o.keys.Keys, keyEntry{ID: id.String(), Path: filepath.Join(dir, ticket.PrivateKeyFile), Created: time.Now().UTC()})
	err = o.saveKeys()
	o.mu.Unlock()
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "key list not written", err)
		return
	}
	pub, _ := os.ReadFile(filepath.Join(dir, ticket.PublicKeyFile))
	note(w, "key %s made", id)
	writeJSON(w, http.StatusOK, map[string]string{"id": id.String(), "public_key": string(pub)})
}

func (h *HQ) servePublicKey(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSuffix(r.PathValue("file"), ".pub")
	o := h.office
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, k := range o.keys.Keys {
		if k.ID == id {
			priv, err := ticket.LoadPrivateKey(k.Path)
			if err != nil {
				h.fail(w, http.StatusInternalServerError, "key unreadable", err)
				return
			}
			pub, err := os.ReadFile(filepath.Join(filepath.Dir(k.Path), ticket.PublicKeyFile))
			if err != nil || ticket.KeyIDOf(priv.Public().(ed25519.PublicKey)).String() != id {
				h.fail(w, http.StatusInternalServerError, "public key file missing beside "+k.Path, err)
				return
			}
			w.Header().Set("Content-Type", "application/x-pem-file")
			w.Write(pub)
			return
		}
	}
	h.fail(w, http.StatusNotFound, "no such key", nil)
}

// serveKeyActivate makes a key HQ's current one and re-signs every event's
// manifest with it.
func (h *HQ) serveKeyActivate(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("key")
	o := h.office
	o.mu.Lock()
	defer o.mu.Unlock()
	var entry *keyEntry
	for i := range o.keys.Keys {
		if o.keys.Keys[i].ID == id {
			entry = &o.keys.Keys[i]
		}
	}
	if entry == nil {
		h.fail(w, http.StatusNotFound, "no such key", nil)
		return
	}
	priv, err := ticket.LoadPrivateKey(entry.Path)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "key unreadable", err)
		return
	}
	entry.Activated = time.Now().UTC()
	o.keys.Current = id
	if err := o.saveKeys(); err != nil {
		h.fail(w, http.StatusInternalServerError, "key list not written", err)
		return
	}
	o.priv = priv
	resigned, err := h.resignLibrary(r, priv)
	if err != nil {
		h.fail(w, http.StatusInternalServerError, "manifests not re-signed", err)
		return
	}
	note(w, "key %s active; %d manifests re-signed", id, resigned)
	writeJSON(w, http.StatusOK, map[string]any{"current": id, "manifests_resigned": resigned})
}

// resignLibrary switches the library to priv and signs each event's
// snapshot again as its next version, pushed to the venues.
func (h *HQ) resignLibrary(r *http.Request, priv ed25519.PrivateKey) (int, error) {
	l := h.lib
	l.mu.Lock()
	l.priv = priv
	l.trust = ticket.NewKeyring(priv.Public().(ed25519.PublicKey))
	var pushes []pushJob
	n := 0
	for _, e := range l.events {
		next := *e.snap
		next.Version++
		next.IssuedAt = time.Now().UTC()
		raw, err := manifest.Sign(priv, &next)
		if err != nil {
			l.mu.Unlock()
			return n, err
		}
		delta, err := l.keep(&next, raw)
		if err != nil {
			l.mu.Unlock()
			return n, err
		}
		n++
		pushes = append(pushes, pushJob{venue: next.Event.Venue, event: next.Event.ID, version: next.Version, raw: raw, delta: delta})
	}
	l.mu.Unlock()
	for _, p := range pushes {
		h.pushJob(r.Context(), p)
	}
	return n, nil
}
