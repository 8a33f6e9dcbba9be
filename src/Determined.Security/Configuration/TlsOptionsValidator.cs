using Microsoft.Extensions.Options;

namespace Determined.Security;

/// <summary>
/// Validates <see cref="TlsOptions"/> for <c>ValidateOnStart</c>: the same checks as <see cref="TlsPolicy.Create(TlsOptions)"/>,
/// including that every file exists and holds what it should, reporting every problem at once.
/// </summary>
internal sealed class TlsOptionsValidator : IValidateOptions<TlsOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, TlsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        _ = TlsPolicy.TryCreate(options, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
