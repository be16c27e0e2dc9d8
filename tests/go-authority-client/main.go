// Command go-authority-client proves that a real (old) grpc-go client can talk
// to a CRI endpoint. It dials the unix socket PATH with a passthrough target,
// exactly as old crictl/kubelet did, so grpc-go puts the socket path in the
// HTTP/2 :authority pseudo-header. It calls /runtime.v1.RuntimeService/Version
// with a hand-encoded protobuf request and prints the decoded reply as
//
//	runtime_name=X runtime_api_version=Y
//
// It has no generated code and only depends on google.golang.org/grpc, so it
// builds in GOPATH mode against Debian's golang-google-grpc-dev (grpc-go 1.33).
//
// Usage: go-authority-client [-timeout 10s] /run/x.sock  (unix:// prefix accepted)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
)

// rawCodec passes pre-encoded protobuf bytes through unchanged.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

// Name is the content-subtype reported to the registry; ForceCodec does not
// change the content-type on the wire (stays "application/grpc").
func (rawCodec) Name() string { return "proto" }

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func readVarint(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * uint(i))
		if b[i] < 0x80 {
			return v, i + 1, nil
		}
	}
	return 0, 0, errors.New("truncated varint")
}

// decodeStrings returns the length-delimited fields of a flat protobuf message.
func decodeStrings(b []byte) (map[uint64]string, error) {
	out := map[uint64]string{}
	for len(b) > 0 {
		key, n, err := readVarint(b)
		if err != nil {
			return nil, err
		}
		b = b[n:]
		field, wire := key>>3, key&7
		switch wire {
		case 0:
			_, n, err = readVarint(b)
			if err != nil {
				return nil, err
			}
			b = b[n:]
		case 1:
			if len(b) < 8 {
				return nil, errors.New("truncated fixed64")
			}
			b = b[8:]
		case 2:
			l, n, err := readVarint(b)
			if err != nil {
				return nil, err
			}
			b = b[n:]
			if uint64(len(b)) < l {
				return nil, errors.New("truncated length-delimited field")
			}
			out[field] = string(b[:l])
			b = b[l:]
		case 5:
			if len(b) < 4 {
				return nil, errors.New("truncated fixed32")
			}
			b = b[4:]
		default:
			return nil, fmt.Errorf("unsupported wire type %d", wire)
		}
	}
	return out, nil
}

func run(socketPath string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	conn, err := grpc.DialContext(ctx, socketPath,
		grpc.WithInsecure(),
		grpc.WithBlock(),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}))
	if err != nil {
		return fmt.Errorf("dial %s: %w", socketPath, err)
	}
	defer conn.Close()

	// VersionRequest{version: "v1"}: field 1, wire type 2.
	req := appendVarint([]byte{0x0a}, uint64(len("v1")))
	req = append(req, "v1"...)
	var resp []byte
	if err := conn.Invoke(ctx, "/runtime.v1.RuntimeService/Version", &req, &resp, grpc.ForceCodec(rawCodec{})); err != nil {
		return fmt.Errorf("Version: %w", err)
	}
	fields, err := decodeStrings(resp)
	if err != nil {
		return fmt.Errorf("decode VersionResponse: %w", err)
	}
	if fields[2] == "" || fields[4] == "" {
		return fmt.Errorf("VersionResponse lacks runtime_name or runtime_api_version: %q", fields)
	}
	fmt.Printf("runtime_name=%s runtime_api_version=%s\n", fields[2], fields[4])
	return nil
}

func main() {
	timeout := flag.Duration("timeout", 10*time.Second, "overall deadline")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: go-authority-client [-timeout 10s] SOCKET_PATH")
		os.Exit(2)
	}
	socketPath := strings.TrimPrefix(flag.Arg(0), "unix://")
	if err := run(socketPath, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
