namespace Determined.Samples.Master.Api;

/// <summary>Determined's error shape: {"error":{"code":&lt;grpc code&gt;,"reason":"&lt;CodeName&gt;","error":"&lt;message&gt;"}}.</summary>
public static class ApiErrors
{
    public static IResult Unauthenticated(string message) => Error(StatusCodes.Status401Unauthorized, 16, "Unauthenticated", message);

    public static IResult PermissionDenied(string message) => Error(StatusCodes.Status403Forbidden, 7, "PermissionDenied", message);

    public static IResult NotFound(string message) => Error(StatusCodes.Status404NotFound, 5, "NotFound", message);

    public static IResult InvalidArgument(string message) => Error(StatusCodes.Status400BadRequest, 3, "InvalidArgument", message);

    public static IResult TooLarge(string message) => Error(StatusCodes.Status413PayloadTooLarge, 8, "ResourceExhausted", message);

    public static IResult Unavailable(string message) => Error(StatusCodes.Status503ServiceUnavailable, 14, "Unavailable", message);

    public static IResult Error(int status, int code, string reason, string message) =>
        Results.Json(new { error = new { code, reason, error = message } }, statusCode: status);
}
