package dvr

import (
	"context"
	"testing"
	"time"

	"github.com/glint-video/glint/dvr/s3test"
)

// s3Options are the S3Options of a store on srv.
func s3Options(srv *s3test.Server, prefix string, timeout time.Duration) S3Options {
	return S3Options{
		Endpoint: srv.Endpoint(), Bucket: s3test.Bucket, AccessKey: s3test.AccessKey,
		SecretKey: s3test.SecretKey, Region: "us-east-1", Prefix: prefix, Timeout: timeout,
	}
}

// newS3Store opens an S3Store on srv.
func newS3Store(t *testing.T, srv *s3test.Server, prefix string, timeout time.Duration) *S3Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := NewS3Store(ctx, s3Options(srv, prefix, timeout))
	if err != nil {
		t.Fatalf("NewS3Store: %v", err)
	}
	return st
}
