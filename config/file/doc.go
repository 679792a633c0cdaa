// Package file is a config.Source for local files and directories, watched
// with fsnotify.
//
// It watches directories rather than files, so it keeps working when an
// editor writes a new file and renames it over the old one, and when
// Kubernetes swaps a ConfigMap volume's "..data" symlink.
//
//	cfg, err := config.New(ctx, []config.Source{
//		file.New("/etc/orders/app.yaml"),
//		file.New("/etc/orders/conf.d", file.Optional()),
//	})
package file
