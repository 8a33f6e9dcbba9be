namespace Determined.Benchmarks;

/// <summary>
/// An in-memory HTTP/1.1 "server" for measuring the client stack alone: every complete request written to this stream is
/// answered at once with the same small response, so a request costs no network, no TLS and no thread hop. Used with
/// <see cref="System.Net.Http.SocketsHttpHandler.ConnectCallback"/> by the <c>handler-overhead</c> scenario.
/// </summary>
internal sealed class CannedHttpStream : Stream
{
    private static readonly byte[] Response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"version\":\"1.0\"}"u8.ToArray();
    private static readonly byte[] EndOfHeaders = "\r\n\r\n"u8.ToArray();
    private readonly Lock _lock = new();
    private readonly Queue<byte[]> _responses = new();
    private int _responseOffset;
    private int _matched;
    private (TaskCompletionSource<int> Completion, Memory<byte> Buffer)? _waiting;

    /// <summary>A <see cref="System.Net.Http.SocketsHttpHandler.ConnectCallback"/> that "connects" to a new canned server.</summary>
    public static ValueTask<Stream> ConnectAsync(System.Net.Http.SocketsHttpConnectionContext context, CancellationToken cancellationToken) =>
        ValueTask.FromResult<Stream>(new CannedHttpStream());

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        (TaskCompletionSource<int> Completion, int Count)? wake = null;
        lock (_lock)
        {
            foreach (var b in buffer)
            {
                // Requests without a body (GET): a request ends at the first blank line.
                _matched = b == EndOfHeaders[_matched] ? _matched + 1 : (b == EndOfHeaders[0] ? 1 : 0);
                if (_matched == EndOfHeaders.Length)
                {
                    _responses.Enqueue(Response);
                    _matched = 0;
                }
            }

            if (_waiting is { } waiting && _responses.Count > 0)
            {
                _waiting = null;
                wake = (waiting.Completion, Drain(waiting.Buffer.Span));
            }
        }

        wake?.Completion.SetResult(wake.Value.Count);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (_responses.Count > 0 || buffer.Length == 0)
            {
                return ValueTask.FromResult(Drain(buffer.Span));
            }

            // Nothing to read yet (e.g. the pool's read-ahead on an idle connection): complete when a request arrives.
            var completion = new TaskCompletionSource<int>();
            _waiting = (completion, buffer);
            return new ValueTask<int>(completion.Task);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private int Drain(Span<byte> destination)
    {
        var written = 0;
        while (written < destination.Length && _responses.TryPeek(out var response))
        {
            var n = Math.Min(destination.Length - written, response.Length - _responseOffset);
            response.AsSpan(_responseOffset, n).CopyTo(destination[written..]);
            written += n;
            _responseOffset += n;
            if (_responseOffset == response.Length)
            {
                _responses.Dequeue();
                _responseOffset = 0;
            }
        }

        return written;
    }
}
