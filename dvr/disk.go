package dvr

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// ErrStoreFull: the store has no room left (ENOSPC, a quota). The Recorder counts it and
// drops the segment with a gap; live viewers are not affected.
var ErrStoreFull = errors.New("dvr: store full")

// DiskStore is a Store on a local directory: a key is a path below it. Put is durable when
// it returns (temporary file, fsync, rename, fsync of the directory), so a crash leaves
// either the old bytes or the new ones, never a torn file under a key.
type DiskStore struct {
	root string
}

// NewDiskStore returns a DiskStore on dir, creating it.
func NewDiskStore(dir string) (*DiskStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("dvr: disk store: %w", err)
	}
	return &DiskStore{root: dir}, nil
}

// Root is the directory the store writes to.
func (d *DiskStore) Root() string { return d.root }

func (d *DiskStore) path(key string) string {
	return filepath.Join(d.root, filepath.FromSlash(key))
}

// Put writes data under key durably.
func (d *DiskStore) Put(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := d.path(key)
	if err := writeFileDurably(p, data); err != nil {
		return fmt.Errorf("dvr: put %s: %w", key, diskError(err))
	}
	return nil
}

// writeFileDurably writes a temporary file next to p, fsyncs it, renames it to p and
// fsyncs the directory (creating the directories first).
func writeFileDurably(p string, data []byte) error {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory, making the names in it (a rename, a new file) durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// diskError marks ENOSPC and EDQUOT as ErrStoreFull, keeping the cause.
func diskError(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", ErrStoreFull, err)
	}
	return err
}

// Get returns the bytes under key.
func (d *DiskStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("dvr: get %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("dvr: get %s: %w", key, err)
	}
	return data, nil
}

// Size returns the length of the bytes under key (see Sizer).
func (d *DiskStore) Size(ctx context.Context, key string) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	fi, err := os.Stat(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("dvr: stat %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("dvr: stat %s: %w", key, err)
	}
	return fi.Size(), nil
}

// Delete removes key, and the directories above it that it leaves empty.
func (d *DiskStore) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Remove(d.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dvr: delete %s: %w", key, err)
	}
	removeEmptyDirs(d.root, filepath.Dir(d.path(key)))
	return nil
}

// removeEmptyDirs removes dir and its parents up to (not including) root while they are
// empty; a directory that is not empty stops it.
func removeEmptyDirs(root, dir string) {
	for dir != root && strings.HasPrefix(dir, root+string(filepath.Separator)) {
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

// List returns every key under prefix ("" for all), sorted. Temporary files are not keys.
func (d *DiskStore) List(ctx context.Context, prefix string) ([]string, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	base := d.root
	if dir, _ := splitPrefix(prefix); dir != "" {
		base = d.path(dir)
	}
	var keys []string
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); ValidKey(key) && strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dvr: list %q: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// splitPrefix returns the directory part of a key prefix ("a/b/c" → "a/b") and the rest.
func splitPrefix(prefix string) (dir, rest string) {
	i := strings.LastIndexByte(prefix, '/')
	if i < 0 {
		return "", prefix
	}
	return prefix[:i], prefix[i+1:]
}

// Sizer is implemented by stores that can tell a key's size without reading its bytes
// (recovery checks the tail of every index against it; without it, it reads the bytes).
type Sizer interface {
	Size(ctx context.Context, key string) (int64, error)
}

// storedSize returns the size of key in s.
func storedSize(ctx context.Context, s Store, key string) (int64, error) {
	if sz, ok := s.(Sizer); ok {
		return sz.Size(ctx, key)
	}
	data, err := s.Get(ctx, key)
	return int64(len(data)), err
}
