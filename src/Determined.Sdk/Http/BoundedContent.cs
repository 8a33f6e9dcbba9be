using System.Net;
using Determined.Security;

namespace Determined.Sdk;

/// <summary>
/// A response body that keeps the call's deadline and a size limit while it is read, without copying it: reads go
/// straight to the inner stream, count bytes, and stop with a <see cref="DeterminedApiException"/> when the limit is
/// passed or the deadline expires. Owns the deadline (disposed with the response).
/// </summary>
internal sealed class BoundedContent : HttpContent
{
    private readonly HttpContent _inner;
    private readonly CallDeadline _deadline;
    private readonly long _limit;

    public BoundedContent(HttpContent inner, long limit, CallDeadline deadline)
    {
        _inner = inner;
        _limit = limit;
        _deadline = deadline;
        foreach (var header in inner.Headers)
        {
            Headers.TryAddWithoutValidation(header.Key, header.Value);
        }
    }

    protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
        new BoundedStream(await _inner.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), _limit, _deadline);

    protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

    // The synchronous APIs (ReadAsStream, CopyTo) keep the same limit and deadline instead of failing as unsupported.
    protected override Stream CreateContentReadStream(CancellationToken cancellationToken) =>
        new BoundedStream(_inner.ReadAsStream(cancellationToken), _limit, _deadline);

    protected override void SerializeToStream(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        using var source = CreateContentReadStream(cancellationToken);
        source.CopyTo(stream);
    }

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        var source = await CreateContentReadStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (source.ConfigureAwait(false))
        {
            await source.CopyToAsync(stream, cancellationToken).ConfigureAwait(false);
        }
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
            _deadline.Dispose();
        }

        base.Dispose(disposing);
    }

    private sealed class BoundedStream(Stream inner, long limit, CallDeadline deadline) : Stream
    {
        private long _read;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            // Most reads come with no token of their own (JSON deserialization, CopyTo): then the deadline's token is enough,
            // and no linked source is allocated per read.
            using var linked = cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token) : null;
            int n;
            try
            {
                n = await inner.ReadAsync(buffer, linked?.Token ?? deadline.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException && deadline.IsExpired && !cancellationToken.IsCancellationRequested)
            {
                throw deadline.Expired(CallDeadline.ReadingBody, ex);
            }
            catch (HttpIOException ex)
            {
                // A body cut short or malformed (bad chunk sizes) is a failed exchange like any other transport error.
                throw new HttpRequestException(ex.HttpRequestError, $"The answer of {deadline.Master} to {deadline.Request} broke off while its body was read ({SafeText.Spaced(ex.Message)}). Fix: retry; if it persists, check the master and any proxy between.", ex);
            }

            _read += n;
            if (_read > limit)
            {
                throw new DeterminedApiException(
                    HttpStatusCode.OK,
                    0,
                    "ResponseTooLarge",
                    $"The answer of {deadline.Master} to {deadline.Request} is larger than {limit} bytes (DeterminedClientOptions.MaxResponseBytes); reading stopped. Fix: check that the URL points at a Determined master; if such answers are expected, raise MaxResponseBytes (config Determined:MaxResponseBytes).");
            }

            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}

/// <summary>One deadline for a whole call (connect, TLS, headers, body, retries), from <see cref="DeterminedClientOptions.Timeout"/>.</summary>
internal sealed class CallDeadline : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly TimeSpan _timeout;

    public CallDeadline(TimeSpan timeout, TimeProvider time, string master, string request)
    {
        _timeout = timeout;
        _source = timeout == Timeout.InfiniteTimeSpan ? new CancellationTokenSource() : new CancellationTokenSource(timeout, time);
        Master = master;
        Request = request;
    }

    public CancellationToken Token => _source.Token;

    public bool IsExpired => _source.IsCancellationRequested;

    public string Master { get; }

    public string Request { get; }

    /// <summary>The deadline error, naming the phase it hit (from the connection layer; null when unknown) and that phase's fix.</summary>
    public DeterminedApiException Expired(string? phase, Exception? inner)
    {
        var (during, fix) = phase switch
        {
            ConnectionProgress.Connecting => ("during the TCP connection to the master", "check that the master's host and port are reachable from here (a firewall that drops packets, a VPN) and that the master is running"),
            ConnectionProgress.TlsHandshake => ("during the TLS handshake: the server accepted the connection but did not complete the handshake", "check that the port is the master's TLS port (8443 by default) and that no proxy or firewall holds the connection; a service that is not a TLS server never answers"),
            ConnectionProgress.WaitingForHeaders => ("while waiting for the response headers: the request was sent and the master did not answer in time", "check the master's load and logs; raise Timeout if this call is expected to take longer"),
            ReadingBody => ("while reading the response body", "raise Timeout for large answers, or check the network's throughput to the master"),
            _ => ("before the connection was established (connecting, or waiting for a free connection)", "check that the master is up and reachable; raise Timeout if the call is expected to take longer"),
        };
        return new(
            HttpStatusCode.RequestTimeout,
            4,
            "DeadlineExceeded",
            $"{Request} to the master {Master} did not complete within {_timeout.TotalSeconds:0.###} s (DeterminedClientOptions.Timeout, config Determined:Timeout); it timed out {during}. Fix: {fix}.",
            inner);
    }

    /// <summary>The phase after the response headers arrived.</summary>
    public const string ReadingBody = "reading the response body";

    public void Dispose() => _source.Dispose();
}
