using Microsoft.AspNetCore.Http.Features;

namespace Determined.Samples.Master.Api;

/// <summary>
/// What every request's body may be: small everywhere (login and JSON APIs), larger only where task logs are posted; a
/// declared length over the limit is refused before anything is read. A body that parsed but cannot be read as the fields
/// it names (invalid UTF-8 inside a string, a wrong type) is the client's error, answered 400, never a 500.
/// </summary>
public static partial class RequestLimits
{
    /// <summary>The largest JSON body of the REST API.</summary>
    public const int MaxJsonBodyBytes = 64 * 1024;

    /// <summary>A login is a user name and a password (hashed by the CLI: 128 hex characters): 4 KiB is generous.</summary>
    public const int MaxLoginBodyBytes = 4 * 1024;

    /// <summary>The largest body of <c>POST /api/v1/task/logs</c>.</summary>
    public const int MaxLogBodyBytes = 8 * 1024 * 1024;

    /// <summary>Adds the body-size limits and the answer to malformed bodies, before the endpoints.</summary>
    public static WebApplication UseRequestLimits(this WebApplication app)
    {
        app.Use((context, next) =>
        {
            var limit = context.Request.Path.StartsWithSegments("/api/v1/task/logs", StringComparison.Ordinal) ? MaxLogBodyBytes
                : context.Request.Path.StartsWithSegments("/api/v1/auth/login", StringComparison.Ordinal) ? MaxLoginBodyBytes
                : MaxJsonBodyBytes;
            if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            {
                size.MaxRequestBodySize = limit;
            }

            if (context.Request.ContentLength > limit)
            {
                return ApiErrors.TooLarge($"the request body of {context.Request.ContentLength} bytes is larger than the {limit} this endpoint accepts").ExecuteAsync(context);
            }

            return next(context);
        });

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Determined.Master");
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException && !context.Response.HasStarted)
            {
                MalformedBody(logger, context.Request.Path, ex.GetType().Name);
                await ApiErrors.InvalidArgument("the request body is not the expected JSON").ExecuteAsync(context);
            }
        });
        return app;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Refused a malformed request body on {Path}: {Error}")]
    private static partial void MalformedBody(ILogger logger, PathString path, string error);
}
