package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"venuebox/cmd/internal/ticket"
)

// Names inside issue's output directory.
const (
	ticketsFile  = "tickets.csv"
	qrDir        = "qr"
	manifestFile = "manifest.json"
)

// ticketsHeader is the header of tickets.csv.
var ticketsHeader = []string{"ticket_id", "code", "name", "phone", "member_level", "card_uid", "ticket_class"}

// errOutNotEmpty means -out names something other than an absent path or an
// empty directory: issue never mixes a new batch into an old one.
var errOutNotEmpty = errors.New("exists and is not an empty directory")

// checkOutDir reports whether out may receive a batch: it does not exist, or
// is an empty directory (not a link to one).
func checkOutDir(out string) error {
	fi, err := os.Lstat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("-out %s %w", out, errOutNotEmpty)
	}
	d, err := os.Open(out)
	if err != nil {
		return err
	}
	defer d.Close()
	names, err := d.Readdirnames(1)
	if len(names) > 0 {
		return fmt.Errorf("-out %s %w", out, errOutNotEmpty)
	}
	if err != nil && err != io.EOF {
		return err
	}
	return nil
}

// write writes the batch into a new hidden directory next to out, syncs it
// and renames it to out, so that out appears complete or not at all.
func (b *batch) write(out string, qrSize int) error {
	out = filepath.Clean(out)
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-") // mode 0700
	if err != nil {
		return err
	}
	defer func() {
		if tmp != "" {
			// Cleanup after a failure that is already being reported.
			_ = os.RemoveAll(tmp)
		}
	}()
	if err := os.Mkdir(filepath.Join(tmp, qrDir), 0o700); err != nil {
		return err
	}
	if err := createSynced(filepath.Join(tmp, ticketsFile), 0o600, b.writeTicketsCSV); err != nil {
		return fmt.Errorf("%s: %w", ticketsFile, err)
	}
	if err := b.writeQRs(filepath.Join(tmp, qrDir), qrSize); err != nil {
		return err
	}
	// The manifest holds no clear personal data (it goes to every box).
	if err := createSynced(filepath.Join(tmp, manifestFile), 0o644, func(w io.Writer) error {
		_, err := w.Write(b.manifest)
		return err
	}); err != nil {
		return fmt.Errorf("%s: %w", manifestFile, err)
	}
	syncDir(filepath.Join(tmp, qrDir))
	syncDir(tmp)
	// Check again: out may have appeared while the batch was written.
	if err := checkOutDir(out); err != nil {
		return err
	}
	// An empty directory is removed first, as rename cannot replace a
	// directory everywhere (Windows); Remove never removes a full one.
	if err := os.Remove(out); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	tmp = ""
	syncDir(parent)
	return nil
}

// writeTicketsCSV writes tickets.csv: UTF-8 with a byte order mark and CRLF
// line ends, which Excel opens without asking for an encoding.
func (b *batch) writeTicketsCSV(w io.Writer) error {
	if _, err := w.Write(utf8BOM); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(ticketsHeader); err != nil {
		return err
	}
	for i := range b.tickets {
		t := &b.tickets[i]
		if err := cw.Write([]string{t.ID, t.Code, t.Name, t.Phone, t.MemberLevel, t.CardUID, t.Class}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeQRs writes qr/<id>.png for every ticket, size pixels square.
// Encoding takes about 1.5 ms a code, so it runs on one worker per CPU. The
// images are written first and synced after: syncing each new file as it is
// written waits for a journal commit per file, while the first sync after
// all of them commits nearly all at once (1000 images on ext4 here: 5 to 10 s
// synced one by one, 0.3 to 0.5 s written, then synced).
func (b *batch) writeQRs(dir string, size int) error {
	path := func(i int) string { return filepath.Join(dir, b.tickets[i].ID+".png") }
	err := forEach(len(b.tickets), runtime.GOMAXPROCS(0), func(i int) error {
		png, err := ticket.EncodePNG(b.tickets[i].Code, size)
		if err != nil {
			return fmt.Errorf("ticket %s: %w", b.tickets[i].ID, err)
		}
		// Mode 0600: the image is the code, a bearer secret.
		return writeNew(path(i), png, 0o600)
	})
	if err != nil {
		return err
	}
	return forEach(len(b.tickets), 4, func(i int) error { return syncFile(path(i)) })
}

// forEach calls fn for 0 <= i < n on up to workers goroutines and returns
// the first error; after one, no further calls start.
func forEach(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var stop atomic.Bool
	errs := make([]error, max(1, min(workers, n)))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			for !stop.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errs[w] = err
					stop.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// writeNew creates path, which must not exist, and writes data to it.
func writeNew(path string, data []byte, perm os.FileMode) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = fh.Write(data)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncFile makes a written file durable. It opens the file for writing, as
// Windows flushes only a handle that may write.
func syncFile(path string) error {
	fh, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = fh.Sync()
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}

// createSynced creates path (which must not exist) with perm, lets fill
// write it through a buffer, and syncs and closes it.
func createSynced(path string, perm os.FileMode, fill func(io.Writer) error) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(fh, 64<<10)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes the names in dir durable. It is best effort: some systems
// (Windows) cannot sync a directory, and the files themselves are synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
