using System.Net;
using Determined.Security;

namespace Determined.Sdk;

/// <summary>The master answered a request with an error (<c>{"error":{"code","reason","error"}}</c>).</summary>
public sealed class DeterminedApiException : DeterminedException
{
    /// <summary>Initializes a new instance.</summary>
    public DeterminedApiException()
        : this(HttpStatusCode.InternalServerError, 0, null, "The master returned an error.")
    {
    }

    /// <summary>Initializes a new instance.</summary>
    /// <param name="statusCode">The HTTP status.</param>
    /// <param name="code">The gRPC status code from the body, or 0.</param>
    /// <param name="reason">The gRPC code name (e.g. <c>Unauthenticated</c>), if given.</param>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public DeterminedApiException(HttpStatusCode statusCode, int code, string? reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        StatusCode = statusCode;
        Code = code;
        Reason = reason;
    }

    /// <summary>Gets the HTTP status of the answer.</summary>
    public HttpStatusCode StatusCode { get; }

    /// <summary>Gets the gRPC status code of the error body (16 Unauthenticated, 7 PermissionDenied, 5 NotFound, …), or 0.</summary>
    public int Code { get; }

    /// <summary>Gets the gRPC code name, if the master sent one.</summary>
    public string? Reason { get; }

    /// <summary>Gets a value indicating whether the request lacked valid credentials (401).</summary>
    public bool IsUnauthenticated => StatusCode == HttpStatusCode.Unauthorized;

    /// <summary>Gets a value indicating whether the credentials were valid but not allowed (403).</summary>
    public bool IsPermissionDenied => StatusCode == HttpStatusCode.Forbidden;

    /// <summary>Gets a value indicating whether the resource does not exist (404).</summary>
    public bool IsNotFound => StatusCode == HttpStatusCode.NotFound;

    /// <inheritdoc />
    public override bool IsTransient => StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout or HttpStatusCode.RequestTimeout;
}
