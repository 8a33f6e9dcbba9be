using System.Net;

namespace Determined.Sdk;

/// <summary>
/// The body of a non-idempotent request (a POST that launches a command, a batch of logs): it can be written to the
/// wire once. A retry or hedging layer that tries to resend it (an app's <c>AddStandardResilienceHandler()</c>,
/// <c>AddStandardHedgingHandler()</c>) fails that attempt instead of executing the call twice on the master.
/// </summary>
internal sealed class SendOnceContent : ByteArrayContent
{
    private readonly string _request;
    private int _sent;
    private int _dispatched;

    public SendOnceContent(byte[] body, string request)
        : base(body)
    {
        _request = request;
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        ThrowIfResent();
        return base.SerializeToStreamAsync(stream, context, cancellationToken);
    }

    protected override void SerializeToStream(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        ThrowIfResent();
        base.SerializeToStream(stream, context, cancellationToken);
    }

    /// <summary>The message when a layer tries to send this body again.</summary>
    internal string ResendRefused =>
        $"{_request} is not idempotent and was already sent once; it is never sent again (a retry or hedging handler tried to). Fix: configure that handler not to retry unsafe methods, e.g. AddStandardResilienceHandler(o => o.Retry.DisableForUnsafeHttpMethods()).";

    /// <summary>True the first time the request carrying this body is dispatched, false on any later attempt.</summary>
    internal bool TryDispatch() => Interlocked.Exchange(ref _dispatched, 1) == 0;

    /// <summary>
    /// After an attempt that provably sent nothing (the connection was refused before any byte): allows one more dispatch,
    /// but only if not one byte of this body was ever written. Returns false (and allows nothing) otherwise.
    /// </summary>
    internal bool TryRearmUnsent()
    {
        if (Volatile.Read(ref _sent) != 0)
        {
            return false;
        }

        Volatile.Write(ref _dispatched, 0);
        return true;
    }

    private void ThrowIfResent()
    {
        if (Interlocked.Exchange(ref _sent, 1) == 1)
        {
            throw new InvalidOperationException(ResendRefused);
        }
    }
}

/// <summary>
/// The innermost handler of the SDK's HTTP client (under any retry or hedging layer an app adds): a request whose body
/// is <see cref="SendOnceContent"/> goes to the wire once; a resend fails at once, before any byte is written.
/// </summary>
internal sealed class SendOnceHandler : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        request.Content is SendOnceContent once && !once.TryDispatch()
            ? Task.FromException<HttpResponseMessage>(new HttpRequestException(HttpRequestError.Unknown, once.ResendRefused))
            : base.SendAsync(request, cancellationToken);
}
