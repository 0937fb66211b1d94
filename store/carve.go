package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// boltFile reads a damaged bbolt file page by page with os.File.ReadAt,
// checking every offset and length against the page and the file, and
// never following a page twice: a wild page number, a length from a
// garbage header or a cycle in the tree costs a page, never the process
// (reading through bbolt's mmap, a fault or a loop cannot always be
// caught). It knows just enough of bbolt's file format (version 2, as
// go.etcd.io/bbolt/internal/common lays it out, little-endian like every
// machine the box runs on) to walk buckets and to carve records out of
// leaf pages when no meta page survives.
type boltFile struct {
	f    *os.File
	size int64
	ps   int64  // page size
	root uint64 // the root bucket's page; 0 when no meta page is valid
	hwm  uint64 // pages in use, from the meta; the file's pages without one
}

// Page layout, from go.etcd.io/bbolt/internal/common.
const (
	pageHeader    = 16 // id u64, flags u16, count u16, overflow u32
	elementSize   = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32
	flagBranch    = 0x01
	flagLeaf      = 0x02
	flagBucket    = 0x01 // in a leaf element: the value is a bucket
	bucketHeader  = 16   // root pgid u64, sequence u64
	boltMagic     = 0xED0CDAED
	boltVersion   = 2
	maxOverflow   = 256 // pages one element may span (1 MiB at 4 KiB): records are far smaller
	maxWalkDepth  = 32
	metaChecksum  = pageHeader + 56 // the meta's bytes before its checksum
	metaRootField = pageHeader + 16
)

func openBoltFile(path string) (*boltFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	b := &boltFile{f: f, size: st.Size(), ps: int64(os.Getpagesize())}
	var best uint64 // txid of the newest valid meta
	for _, off := range []int64{0, 4096, 16384, 65536, b.ps} {
		buf := make([]byte, pageHeader+80)
		if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
			continue
		}
		m := buf[pageHeader:]
		h := fnv.New64a()
		h.Write(buf[pageHeader:metaChecksum])
		if binary.LittleEndian.Uint32(m[0:]) != boltMagic || binary.LittleEndian.Uint32(m[4:]) != boltVersion ||
			binary.LittleEndian.Uint64(buf[metaChecksum:]) != h.Sum64() {
			continue
		}
		ps := int64(binary.LittleEndian.Uint32(m[8:]))
		if off != 0 && off != ps || ps < 512 || ps > 1<<16 {
			continue // meta 1 sits one page in
		}
		if txid := binary.LittleEndian.Uint64(m[48:]); b.root == 0 || txid > best {
			b.ps, best = ps, txid
			b.root = binary.LittleEndian.Uint64(buf[metaRootField:])
			b.hwm = binary.LittleEndian.Uint64(m[40:])
		}
	}
	if pages := uint64(b.size / b.ps); b.root == 0 || b.hwm > pages {
		b.hwm = pages
	}
	return b, nil
}

func (b *boltFile) Close() error { return b.f.Close() }

// page reads page id with its overflow pages.
func (b *boltFile) page(id uint64) ([]byte, error) {
	if id < 2 || id >= b.hwm {
		return nil, fmt.Errorf("page %d out of range", id)
	}
	head := make([]byte, pageHeader)
	if _, err := b.f.ReadAt(head, int64(id)*b.ps); err != nil {
		return nil, err
	}
	n := int64(binary.LittleEndian.Uint32(head[12:])) + 1
	if n > maxOverflow || uint64(n)+id > b.hwm {
		return nil, fmt.Errorf("page %d: overflow %d", id, n-1)
	}
	p := make([]byte, n*b.ps)
	if _, err := b.f.ReadAt(p, int64(id)*b.ps); err != nil {
		return nil, err
	}
	return p, nil
}

// element returns the i-th element's header fields and its key and value
// (branch pages: value nil, child in child), or ok false when they do not
// fit in p.
func element(p []byte, i int, leaf bool) (flags uint32, key, value []byte, child uint64, ok bool) {
	at := pageHeader + i*elementSize
	if at+elementSize > len(p) {
		return 0, nil, nil, 0, false
	}
	e := p[at : at+elementSize]
	if !leaf {
		pos, ksize := int(binary.LittleEndian.Uint32(e[0:])), int(binary.LittleEndian.Uint32(e[4:]))
		if pos < 0 || ksize < 0 || at+pos+ksize > len(p) || at+pos < at {
			return 0, nil, nil, 0, false
		}
		return 0, p[at+pos : at+pos+ksize], nil, binary.LittleEndian.Uint64(e[8:]), true
	}
	flags = binary.LittleEndian.Uint32(e[0:])
	pos, ksize, vsize := int(binary.LittleEndian.Uint32(e[4:])), int(binary.LittleEndian.Uint32(e[8:])), int(binary.LittleEndian.Uint32(e[12:]))
	start, mid, end := at+pos, at+pos+ksize, at+pos+ksize+vsize
	if pos < 0 || ksize < 0 || vsize < 0 || start < at || mid < start || end < mid || end > len(p) {
		return 0, nil, nil, 0, false
	}
	return flags, p[start:mid], p[mid:end], 0, true
}

// each calls fn for every element of the bucket whose header is value (a
// bucket value: root page, or an inline page after the header), in key
// order, reading around what is damaged; it reports whether it read all.
func (b *boltFile) each(value []byte, fn func(k, v []byte, bucket bool)) bool {
	if len(value) < bucketHeader {
		return false
	}
	visited := map[uint64]bool{}
	if root := binary.LittleEndian.Uint64(value); root != 0 {
		return b.walkPage(root, nil, visited, 0, fn)
	}
	return b.walkPage(0, value[bucketHeader:], visited, 0, fn)
}

// rootValue is the root bucket as a bucket value.
func (b *boltFile) rootValue() []byte {
	if b.root == 0 {
		return nil
	}
	return binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, b.root), 0)
}

func (b *boltFile) walkPage(id uint64, inline []byte, visited map[uint64]bool, depth int, fn func(k, v []byte, bucket bool)) bool {
	if depth > maxWalkDepth || visited[id] && inline == nil {
		return false
	}
	p := inline
	if p == nil {
		visited[id] = true
		var err error
		if p, err = b.page(id); err != nil {
			return false
		}
	}
	if len(p) < pageHeader {
		return false
	}
	flags, count := binary.LittleEndian.Uint16(p[8:]), int(binary.LittleEndian.Uint16(p[10:]))
	complete := true
	switch flags {
	case flagBranch:
		for i := range count {
			_, _, _, child, ok := element(p, i, false)
			if !ok {
				return false
			}
			complete = b.walkPage(child, nil, visited, depth+1, fn) && complete
		}
	case flagLeaf:
		for i := range count {
			ef, k, v, _, ok := element(p, i, true)
			if !ok {
				return false
			}
			if len(k) > 0 {
				fn(k, v, ef&flagBucket != 0)
			}
		}
	default:
		return false
	}
	return complete
}

// bucket returns the value of the nested bucket at path (names from the
// root), or nil.
func (b *boltFile) bucket(path ...[]byte) []byte {
	v := b.rootValue()
	for _, name := range path {
		var found []byte
		b.each(v, func(k, val []byte, bucket bool) {
			if bucket && found == nil && string(k) == string(name) {
				found = val
			}
		})
		if found == nil {
			return nil
		}
		v = found
	}
	return v
}

// entries calls fn for each key and value of the bucket at path, copies
// both may keep, and reports whether the bucket was read whole.
func (b *boltFile) entries(fn func(k, v []byte), path ...[]byte) bool {
	v := b.bucket(path...)
	if v == nil {
		return false
	}
	return b.each(v, func(k, val []byte, bucket bool) {
		if !bucket {
			fn(k, val)
		}
	})
}

// carve calls fn for each element of every page that reads as a leaf,
// bucket or not, in use or freed: what is left when the tree is not.
func (b *boltFile) carve(fn func(k, v []byte)) {
	for id := uint64(2); id < b.hwm; id++ {
		p, err := b.page(id)
		if err != nil || binary.LittleEndian.Uint16(p[8:]) != flagLeaf {
			continue
		}
		carveLeaf(p, fn, 0)
	}
}

// carveLeaf calls fn for the values of leaf page p and of the small
// buckets stored inline in it.
func carveLeaf(p []byte, fn func(k, v []byte), depth int) {
	if len(p) < pageHeader || binary.LittleEndian.Uint16(p[8:]) != flagLeaf || depth > maxWalkDepth {
		return
	}
	for i := range int(binary.LittleEndian.Uint16(p[10:])) {
		ef, k, v, _, ok := element(p, i, true)
		if !ok {
			return
		}
		switch {
		case ef&flagBucket == 0 && len(k) > 0:
			fn(k, v)
		case ef&flagBucket != 0 && len(v) > bucketHeader && binary.LittleEndian.Uint64(v) == 0:
			carveLeaf(v[bucketHeader:], fn, depth+1)
		}
	}
}
