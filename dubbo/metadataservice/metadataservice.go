// Package metadataservice serves and calls Dubbo 3.3's MetadataServiceV2, the gRPC (Triple)
// service through which a Dubbo consumer learns which services an application-level instance
// offers: the consumer reads the instance's dubbo.metadata.revision from the registry and asks
// the instance's Triple port for the metadata of that revision
// (docs/design/dubbo-app-level.md §2).
//
// A Tianshu provider registers the service on its gRPC server with Register and keeps the
// metadata it announces in a Store; a Tianshu consumer fetches a provider's metadata with
// Fetch, Java provider or Tianshu one alike. A Cache does that for the registry backends: it
// fetches each application revision once, shares it between the instances that announce it,
// and retries a failed fetch with backoff, logging it once.
package metadataservice

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/dubbo/metadatapb"
)

// ServiceVersion is the Dubbo version of MetadataServiceV2: a Dubbo consumer sends it in the
// tri-service-version header, and its group header carries the provider's application name.
const ServiceVersion = "2.0.0"

// The Triple headers a Dubbo consumer routes a call by, rpc.TripleGroupHeader and
// rpc.TripleVersionHeader: rpc serves this package's service on a provider's port, so this
// package cannot import rpc.
const (
	groupHeader   = "tri-service-group"
	versionHeader = "tri-service-version"
)

// DefaultTimeout bounds a Fetch whose context has no deadline; it is the timeout a Dubbo
// consumer gives the same call by default (dubbo.application.metadata.proxy.delay).
const DefaultTimeout = 5 * time.Second

var (
	// ErrInvalidRevision is returned by Fetch for an empty revision or "0", and by Store.Put
	// for metadata without a revision or without an application name.
	ErrInvalidRevision = errors.New("metadataservice: invalid revision")
	// ErrUnknownRevision is returned by Fetch when the provider does not announce the
	// revision (any more): a Tianshu provider answers NotFound. A Java provider answers
	// Unknown "Internal Server Error" instead, which Fetch cannot tell from other failures
	// and reports as ErrFetch.
	ErrUnknownRevision = errors.New("metadataservice: unknown revision")
	// ErrFetch wraps every other failure of Fetch: the call's error, or an answer for another
	// application or revision than the one asked for.
	ErrFetch = errors.New("metadataservice: fetching metadata failed")
)

// Source gives the metadata a provider announces. Metadata returns the metadata of
// revision, and false when the provider does not announce that revision. The message
// returned is marshalled as it is, concurrently with other calls: it must not change
// afterwards.
type Source interface {
	Metadata(revision string) (*metadatapb.MetadataInfoV2, bool)
}

// Register serves MetadataServiceV2's GetMetadataInfo on s from src. An unknown or empty
// revision fails with NotFound or InvalidArgument; a Dubbo consumer treats either as its
// failure to get metadata, as it does with a Java provider's own error for that case. A call
// with a tri-service-group header other than the application of the answer, or a
// tri-service-version other than ServiceVersion, fails with NotFound, as a Dubbo Triple
// server fails a call for a service it does not export; calls without these headers (a plain
// gRPC client) are served.
func Register(s grpc.ServiceRegistrar, src Source) {
	metadatapb.RegisterMetadataServiceV2Server(s, &server{src: src})
}

type server struct {
	metadatapb.UnimplementedMetadataServiceV2Server
	src Source
}

func (s *server) GetMetadataInfo(ctx context.Context, req *metadatapb.MetadataRequest) (*metadatapb.MetadataInfoV2, error) {
	rev := req.GetRevision()
	if rev == "" {
		return nil, status.Error(codes.InvalidArgument, "metadataservice: the request names no revision")
	}
	info, ok := s.src.Metadata(rev)
	if !ok || info == nil {
		return nil, status.Errorf(codes.NotFound, "metadataservice: revision %q is not announced here", rev)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if g := md.Get(groupHeader); len(g) > 0 && g[0] != info.GetApp() {
		return nil, status.Errorf(codes.NotFound, "metadataservice: application %q asked for, this is %q", g[0], info.GetApp())
	}
	if v := md.Get(versionHeader); len(v) > 0 && v[0] != ServiceVersion {
		return nil, status.Errorf(codes.NotFound, "metadataservice: version %q of the service asked for, this is %s", v[0], ServiceVersion)
	}
	return info, nil
}

// Store is a Source a provider updates as its revision changes. It keeps every revision put
// until it is deleted, so that a consumer that read the previous revision from the registry
// just before a change still gets an answer. The zero Store is empty and ready to use.
type Store struct {
	mu    sync.RWMutex
	byRev map[string]*metadatapb.MetadataInfoV2
}

// Put makes info the answer for its revision (info.Version). info must not change afterwards.
// It fails with ErrInvalidRevision when info has no revision or no application name.
func (s *Store) Put(info *metadatapb.MetadataInfoV2) error {
	if info.GetVersion() == "" || info.GetApp() == "" {
		return fmt.Errorf("%w: metadata needs an application and a revision, got app %q revision %q",
			ErrInvalidRevision, info.GetApp(), info.GetVersion())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byRev == nil {
		s.byRev = make(map[string]*metadatapb.MetadataInfoV2)
	}
	s.byRev[info.GetVersion()] = info
	return nil
}

// Delete stops answering for revision.
func (s *Store) Delete(revision string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byRev, revision)
}

// Metadata implements Source.
func (s *Store) Metadata(revision string) (*metadatapb.MetadataInfoV2, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	info, ok := s.byRev[revision]
	return info, ok
}

// Fetch asks the provider behind conn for the metadata of application app at revision, as a
// Dubbo consumer does (with the tri-service-group and tri-service-version headers a Java
// Triple server routes on). Without a deadline on ctx it waits at most DefaultTimeout. It
// fails with ErrInvalidRevision for an empty revision or "0" (Dubbo's revision of an instance
// without services, which a Dubbo consumer never fetches), ErrUnknownRevision when a Tianshu
// provider does not announce the revision, and ErrFetch otherwise, naming app and revision.
// A Dubbo consumer retries a failed fetch; Fetch leaves that to its caller.
func Fetch(ctx context.Context, conn grpc.ClientConnInterface, app, revision string) (*metadatapb.MetadataInfoV2, error) {
	if revision == "" || revision == "0" {
		// "0" is what Dubbo announces for an instance without services; it has no metadata.
		return nil, fmt.Errorf("%w: %q of application %q", ErrInvalidRevision, revision, app)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	ctx = metadata.AppendToOutgoingContext(ctx, groupHeader, app, versionHeader, ServiceVersion)
	info, err := metadatapb.NewMetadataServiceV2Client(conn).GetMetadataInfo(ctx, &metadatapb.MetadataRequest{Revision: revision})
	if status.Code(err) == codes.NotFound {
		return nil, fmt.Errorf("%w: %q of application %q: %w", ErrUnknownRevision, revision, app, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: revision %q of application %q: %w", ErrFetch, revision, app, err)
	}
	if info.GetApp() != app || info.GetVersion() != revision {
		return nil, fmt.Errorf("%w: asked for revision %q of application %q, got revision %q of %q",
			ErrFetch, revision, app, info.GetVersion(), info.GetApp())
	}
	return info, nil
}
