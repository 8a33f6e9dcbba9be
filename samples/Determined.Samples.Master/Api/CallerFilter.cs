namespace Determined.Samples.Master.Api;

/// <summary>
/// Authenticates a request before its endpoint runs (<see cref="AuthService.Authenticate"/>) and answers 401 with the
/// endpoint's own sentence when the caller may not call it; the endpoint reads the caller with
/// <see cref="CallerFilterExtensions.Caller"/>.
/// </summary>
/// <param name="allows">Who may call the endpoint (see <see cref="Callers"/>).</param>
/// <param name="refusal">The message of the 401 answer.</param>
public sealed class CallerFilter(Func<Caller?, HttpContext, bool> allows, string refusal) : IEndpointFilter
{
    /// <inheritdoc />
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var caller = http.RequestServices.GetRequiredService<AuthService>().Authenticate(http);
        if (!allows(caller, http))
        {
            return ValueTask.FromResult<object?>(ApiErrors.Unauthenticated(refusal));
        }

        http.Items[typeof(Caller)] = caller;
        return next(context);
    }
}

/// <summary>Who may call an endpoint, from the caller <see cref="AuthService.Authenticate"/> found (null: no valid credentials).</summary>
public static class Callers
{
    /// <summary>Any valid credential: a user session or a task's allocation token.</summary>
    public static bool Anyone(Caller? caller, HttpContext context) => caller is not null;

    /// <summary>A user session (Authorization: Bearer); a task's allocation token does not act as its user.</summary>
    public static bool User(Caller? caller, HttpContext context) => caller is { HasUserToken: true };

    /// <summary>A task's allocation token (Grpc-Metadata-x-allocation-token: Bearer).</summary>
    public static bool Allocation(Caller? caller, HttpContext context) => caller?.Allocation is not null;

    /// <summary>A user session reads any task; an allocation token only its own task, named by the route value <paramref name="taskRouteValue"/>.</summary>
    public static Func<Caller?, HttpContext, bool> ReaderOfTask(string taskRouteValue) =>
        (caller, context) => context.Request.RouteValues[taskRouteValue] is string taskId && MayRead(caller, taskId);

    /// <summary>A user session reads any task; an allocation token only its own task.</summary>
    public static bool MayRead(Caller? caller, string taskId) => caller is { HasUserToken: true } || caller?.Allocation?.TaskId == taskId;
}

/// <summary>Adds <see cref="CallerFilter"/> to endpoints, and reads the caller it found.</summary>
public static class CallerFilterExtensions
{
    /// <summary>Answers 401 with <paramref name="refusal"/> unless <paramref name="allows"/> the request's caller.</summary>
    public static RouteHandlerBuilder RequireCaller(this RouteHandlerBuilder endpoint, Func<Caller?, HttpContext, bool> allows, string refusal) =>
        endpoint.AddEndpointFilter(new CallerFilter(allows, refusal));

    /// <summary>The caller <see cref="CallerFilter"/> let through.</summary>
    public static Caller Caller(this HttpContext context) => (Caller)context.Items[typeof(Caller)]!;
}
