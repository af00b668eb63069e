package dvr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// DefaultS3Timeout bounds each S3 call (a Put, Get, Delete or List, retries included) when
// S3Options.Timeout is zero: a stopped or unreachable server fails the call after it
// instead of holding the recorder's upload worker.
const DefaultS3Timeout = 10 * time.Second

// s3Retries is how many times minio-go tries one request (the first try included) within
// the call's timeout; the recorder retries whole uploads itself.
const s3Retries = 2

// S3Options configures an S3Store.
type S3Options struct {
	// Endpoint is host:port, or a URL (http:// for plain HTTP, https://); its path must be
	// empty. Empty is an error.
	Endpoint string
	// Bucket holds the objects; it is created at start when missing and the credentials
	// allow it.
	Bucket string
	// Region is the bucket's region ("" lets the client ask the server).
	Region string
	// AccessKey and SecretKey sign the requests (both empty: anonymous).
	AccessKey, SecretKey string
	// Insecure uses plain HTTP instead of HTTPS (also implied by an http:// Endpoint).
	Insecure bool
	// Prefix is put before every key in the bucket (e.g. "glint/dvr", a key-like path; a
	// slash is added after it); keys given to and returned by the Store never include it.
	Prefix string
	// Timeout bounds each call; 0 means DefaultS3Timeout.
	Timeout time.Duration
}

// S3Store is a Store on any S3-compatible object store (AWS S3, MinIO, versitygw, …). Put
// returns nil only once the server has answered OK to the whole object, which is when the
// object is durable by S3's contract.
type S3Store struct {
	client  *minio.Client
	bucket  string
	prefix  string
	timeout time.Duration
}

// NewS3Store connects to the object store, checks that the bucket exists (creating it when
// it is missing and the credentials allow it) and returns the store. ctx bounds the check.
func NewS3Store(ctx context.Context, opts S3Options) (*S3Store, error) {
	host, secure, err := parseS3Endpoint(opts.Endpoint, opts.Insecure)
	if err != nil {
		return nil, err
	}
	if opts.Bucket == "" {
		return nil, errors.New("dvr: s3: no bucket given")
	}
	prefix := opts.Prefix
	if err := checkPrefix(prefix); err != nil {
		return nil, fmt.Errorf("dvr: s3: prefix: %w", err)
	}
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultS3Timeout
	}
	transport, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("dvr: s3: transport: %w", err)
	}
	transport.DialContext = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	transport.ResponseHeaderTimeout = timeout
	// Empty keys make anonymous (unsigned) requests.
	creds := credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, "")
	client, err := minio.New(host, &minio.Options{
		Creds: creds, Secure: secure, Region: opts.Region, Transport: transport, MaxRetries: s3Retries,
	})
	if err != nil {
		return nil, fmt.Errorf("dvr: s3: client for %s: %w", host, err)
	}
	s := &S3Store{client: client, bucket: opts.Bucket, prefix: prefix, timeout: timeout}
	if err := s.ensureBucket(ctx, opts.Region); err != nil {
		return nil, err
	}
	return s, nil
}

// parseS3Endpoint splits an endpoint into the host:port minio-go wants and whether to use TLS.
func parseS3Endpoint(endpoint string, insecure bool) (host string, secure bool, err error) {
	if endpoint == "" {
		return "", false, errors.New("dvr: s3: no endpoint given")
	}
	if !strings.Contains(endpoint, "://") {
		return endpoint, !insecure, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", false, fmt.Errorf("dvr: s3: endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", false, fmt.Errorf("dvr: s3: endpoint %q: scheme must be http or https", endpoint)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", false, fmt.Errorf("dvr: s3: endpoint %q: want scheme://host[:port] only", endpoint)
	}
	return u.Host, u.Scheme == "https" && !insecure, nil
}

// ensureBucket checks that the bucket exists and creates it when it does not.
func (s *S3Store) ensureBucket(ctx context.Context, region string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	exists, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("dvr: s3: checking bucket %q at %s: %w", s.bucket, s.client.EndpointURL().Host, err)
	}
	if exists {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region})
	if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
		return fmt.Errorf("dvr: s3: bucket %q does not exist at %s and could not be created: %w",
			s.bucket, s.client.EndpointURL().Host, err)
	}
	return nil
}

// Put uploads data under key in one request of its exact size (multipart above minio-go's
// part size), with a content type from the key's extension.
func (s *S3Store) Put(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.client.PutObject(ctx, s.bucket, s.prefix+key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: contentType(key)})
	if err != nil {
		return fmt.Errorf("dvr: s3: put %s: %w", key, err)
	}
	return nil
}

// Get downloads the object under key.
func (s *S3Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	obj, err := s.client.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.getError(key, err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		return nil, s.getError(key, err)
	}
	return data, nil
}

// Size returns the length of the object under key without reading it (see Sizer).
func (s *S3Store) Size(ctx context.Context, key string) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	info, err := s.client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return 0, s.getError(key, err)
	}
	return info.Size, nil
}

// getError maps S3's NoSuchKey to ErrNotFound.
func (s *S3Store) getError(key string, err error) error {
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return fmt.Errorf("dvr: s3: get %s: %w", key, ErrNotFound)
	}
	return fmt.Errorf("dvr: s3: get %s: %w", key, err)
}

// Delete removes the object under key; S3 answers a missing key with success too.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := s.client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		return fmt.Errorf("dvr: s3: delete %s: %w", key, err)
	}
	return nil
}

// List returns every key under prefix (a plain string prefix, as in S3), sorted. A long
// listing takes one request per 1,000 keys: the timeout bounds each of them (the wait for
// the next page), not the whole listing.
func (s *S3Store) List(ctx context.Context, prefix string) ([]string, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stalled := fmt.Errorf("no answer within %v", s.timeout)
	watchdog := time.AfterFunc(s.timeout, func() { cancel(stalled) })
	defer watchdog.Stop()
	var keys []string
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{
		Prefix: s.prefix + prefix, Recursive: true,
	}) {
		if obj.Err != nil {
			if cause := context.Cause(ctx); cause != nil {
				return nil, fmt.Errorf("dvr: s3: list %q: %w", prefix, cause)
			}
			return nil, fmt.Errorf("dvr: s3: list %q: %w", prefix, obj.Err)
		}
		watchdog.Reset(s.timeout)
		keys = append(keys, strings.TrimPrefix(obj.Key, s.prefix))
	}
	if cause := context.Cause(ctx); cause != nil { // ended by the watchdog without an error object
		return nil, fmt.Errorf("dvr: s3: list %q: %w", prefix, cause)
	}
	slices.Sort(keys)
	return keys, nil
}
