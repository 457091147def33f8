package course

import (
	"archive/tar"
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/labhub/labhub/spawner"
	"github.com/labhub/labhub/store"
)

// maxListed bounds how many entries ListMaterials returns.
const maxListed = 500

// File is an entry of a volume.
type File struct {
	// Path is relative to the volume's root; directories end in "/".
	Path    string
	Size    int64
	ModTime time.Time
	Dir     bool
}

// HelperImage returns an image present on the engine for helper containers
// of course c: its own, else the site default.
func (m *Manager) HelperImage(ctx context.Context, c store.Course) (string, error) {
	p := m.planFor(ctx, c, nil)
	for _, ref := range []string{p.image, m.opts.DefaultImage} {
		if ref == "" {
			continue
		}
		if ok, err := m.docker.ImagePresent(ctx, ref); err == nil && ok {
			return ref, nil
		}
	}
	return "", &InputError{Msg: "The course's image is not on the server yet, so its files cannot be reached; start a server first."}
}

// ensureShared makes sure course c's shared volume exists.
func (m *Manager) ensureShared(ctx context.Context, c store.Course, image string) (string, error) {
	shared := m.opts.Names.Shared(c.Slug)
	labels := map[string]string{LabelInstance: m.opts.Instance, LabelCourse: c.Slug}
	if _, err := m.docker.EnsureVolume(ctx, shared, labels, m.opts.VolumeOwner, image); err != nil {
		return "", fmt.Errorf("prepare course volume: %w", err)
	}
	return shared, nil
}

// ListMaterials lists the course's shared files (at most 500 entries),
// which students see read-only at shared/.
func (m *Manager) ListMaterials(ctx context.Context, c store.Course) (files []File, truncated bool, err error) {
	e, err := m.engine()
	if err != nil {
		return nil, false, err
	}
	image, err := m.HelperImage(ctx, c)
	if err != nil {
		return nil, false, err
	}
	shared, err := m.ensureShared(ctx, c, image)
	if err != nil {
		return nil, false, err
	}
	rc, err := e.ReadTar(ctx, image, []spawner.Mount{{Volume: shared, Target: helperShared, ReadOnly: true}}, helperShared)
	if err != nil {
		return nil, false, fmt.Errorf("read course files: %w", err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read course files: %w", err)
		}
		name := underRoot(h.Name)
		if name == "" {
			continue
		}
		if len(files) == maxListed {
			return files, true, nil
		}
		f := File{Path: name, Size: h.Size, ModTime: h.ModTime, Dir: h.Typeflag == tar.TypeDir}
		if f.Dir && !strings.HasSuffix(f.Path, "/") {
			f.Path += "/"
		}
		files = append(files, f)
	}
}

// maxNameBytes bounds one segment of a path in the course files, as the
// file systems of volumes do.
const maxNameBytes = 255

// checkClashes refuses an upload that would put a file where a folder is, or
// a folder where a file is: the engine cannot replace one by the other.
func (m *Manager) checkClashes(ctx context.Context, e Engine, image, shared, dir string, files []Upload) error {
	rc, err := e.ReadTar(ctx, image, []spawner.Mount{{Volume: shared, Target: helperShared, ReadOnly: true}}, helperShared)
	if errors.Is(err, spawner.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read course files: %w", err)
	}
	defer rc.Close()
	want := map[string]bool{} // path to whether it must be a folder
	if dir != "" {
		parts := strings.Split(dir, "/")
		for i := range parts {
			want[strings.Join(parts[:i+1], "/")] = true
		}
	}
	for _, f := range files {
		want[path.Join(dir, f.Name)] = false
	}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read course files: %w", err)
		}
		name := strings.TrimSuffix(underRoot(h.Name), "/")
		isDir, ok := want[name]
		if !ok || name == "" {
			continue
		}
		switch existing := h.Typeflag == tar.TypeDir; {
		case existing && !isDir:
			return &InputError{Msg: fmt.Sprintf("There is already a folder named %s in the course files; rename the file or the folder.", name)}
		case !existing && isDir:
			return &InputError{Msg: fmt.Sprintf("%s is a file in the course files, so it cannot be a folder; choose another folder.", name)}
		}
	}
}

// Upload is a file to put into a volume.
type Upload struct {
	Name string
	Size int64
	Body io.Reader
}

// UploadMaterials writes files into the course's shared files under dir
// ("" for the top), replacing files of the same name; the files belong to
// the notebook user and are readable by all.
func (m *Manager) UploadMaterials(ctx context.Context, actor store.User, c store.Course, dir string, files []Upload) error {
	if len(files) == 0 {
		return &InputError{Msg: "Choose at least one file to upload."}
	}
	dir = strings.TrimSpace(dir)
	if dir != "" {
		d, ok := CleanPath(dir)
		if !ok {
			return &InputError{Msg: "The folder must be a path inside the course files, such as week1 or data/raw."}
		}
		dir = d
	}
	for i, f := range files {
		name := path.Base(strings.ReplaceAll(f.Name, "\\", "/"))
		if _, ok := CleanPath(name); !ok || name == "." || name == "/" {
			return &InputError{Msg: fmt.Sprintf("%q is not a usable file name.", f.Name)}
		}
		if len(name) > maxNameBytes {
			return &InputError{Msg: fmt.Sprintf("The file name %q is longer than %d bytes; rename the file and upload it again.", name, maxNameBytes)}
		}
		files[i].Name = name
	}
	for _, seg := range strings.Split(dir, "/") {
		if len(seg) > maxNameBytes {
			return &InputError{Msg: fmt.Sprintf("The folder name %q is longer than %d bytes.", seg, maxNameBytes)}
		}
	}
	e, err := m.engine()
	if err != nil {
		return err
	}
	image, err := m.HelperImage(ctx, c)
	if err != nil {
		return err
	}
	shared, err := m.ensureShared(ctx, c, image)
	if err != nil {
		return err
	}
	if err := m.checkClashes(ctx, e, image, shared, dir, files); err != nil {
		return err
	}
	uid, gid, _ := m.owner()
	now := m.opts.Now()
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tw := tar.NewWriter(pw)
		// Parent folders first, so they belong to the notebook user too.
		if dir != "" {
			parts := strings.Split(dir, "/")
			for i := range parts {
				h := &tar.Header{Name: strings.Join(parts[:i+1], "/") + "/", Typeflag: tar.TypeDir, Mode: 0o755,
					Uid: uid, Gid: gid, ModTime: now}
				if err := tw.WriteHeader(h); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
		}
		for _, f := range files {
			h := &tar.Header{Name: path.Join(dir, f.Name), Typeflag: tar.TypeReg, Mode: 0o644, Size: f.Size,
				Uid: uid, Gid: gid, ModTime: now}
			if err := tw.WriteHeader(h); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.CopyN(tw, f.Body, f.Size); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	err = e.WriteTar(ctx, image, []spawner.Mount{{Volume: shared, Target: helperShared}}, helperShared, pr)
	pr.CloseWithError(err)
	<-done
	if err != nil {
		return fmt.Errorf("write course files: %w", err)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = path.Join(dir, f.Name)
	}
	m.Audit(ctx, actor, "materials.upload", &c, "", strings.Join(names, ", "))
	return nil
}

// DownloadMaterials writes the course's shared files to w as a zip archive.
func (m *Manager) DownloadMaterials(ctx context.Context, c store.Course, w io.Writer) error {
	e, err := m.engine()
	if err != nil {
		return err
	}
	image, err := m.HelperImage(ctx, c)
	if err != nil {
		return err
	}
	shared, err := m.ensureShared(ctx, c, image)
	if err != nil {
		return err
	}
	rc, err := e.ReadTar(ctx, image, []spawner.Mount{{Volume: shared, Target: helperShared, ReadOnly: true}}, helperShared)
	if err != nil {
		return fmt.Errorf("read course files: %w", err)
	}
	defer rc.Close()
	return tarToZip(tar.NewReader(rc), w, "")
}

// tarToZip copies the regular files and directories of tr into a zip
// archive on w, under prefix.
func tarToZip(tr *tar.Reader, w io.Writer, prefix string) error {
	zw := zip.NewWriter(w)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		name := underRoot(h.Name)
		if name == "" || (h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeDir) {
			continue
		}
		fh := &zip.FileHeader{Name: path.Join(prefix, name), Modified: h.ModTime, Method: zip.Deflate}
		if h.Typeflag == tar.TypeDir {
			fh.Name += "/"
			fh.Method = zip.Store
		}
		fh.SetMode(h.FileInfo().Mode())
		fw, err := zw.CreateHeader(fh)
		if err != nil {
			return fmt.Errorf("write zip: %w", err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.Copy(fw, tr); err != nil {
				return fmt.Errorf("write zip: %w", err)
			}
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write zip: %w", err)
	}
	return nil
}

// underRoot returns an entry's path below the directory a volume's archive
// is rooted at: the engine names a directory's archive entries after the
// directory ("shared/week1/x"). The root itself gives "".
func underRoot(name string) string {
	name = strings.TrimPrefix(name, "./")
	_, rest, _ := strings.Cut(strings.TrimPrefix(name, "/"), "/")
	return rest
}
