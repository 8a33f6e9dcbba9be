using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Determined.Samples.Master.Configuration;

namespace Determined.Samples.Master.Api;

public sealed record UserRecord(int Id, string Username, bool Admin, string PasswordHash);

/// <summary>Who a request acts as: a user (Bearer token) and/or a task allocation (allocation token).</summary>
public sealed record Caller(UserRecord User, AllocationIdentity? Allocation);

public sealed record AllocationIdentity(string TaskId, string AllocationId, string Username);

/// <summary>Users, session tokens and allocation tokens of the sample master. Tokens live in memory only.</summary>
public sealed class AuthService
{
    private const string Salt = "GubPEmmotfiK9TMD6Zdw";

    /// <summary>The hash of a user who cannot log in (no password hash equals it: it is not hex).</summary>
    private static readonly string LockedHash = new('!', 1);
    private readonly Dictionary<string, UserRecord> _users = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _sessions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, AllocationIdentity> _allocations = new(StringComparer.Ordinal);

    public AuthService(IEnumerable<UserConfig> users, Func<string, string?> env)
    {
        var id = 1;
        // Determined's default users: 'determined' and 'admin', empty passwords.
        foreach (var name in new[] { "determined", "admin" })
        {
            _users[name] = new UserRecord(id++, name, Admin: true, Hash(string.Empty));
        }

        foreach (var user in users)
        {
            if (user.PasswordEnv is null)
            {
                _users[user.Username] = new UserRecord(id++, user.Username, user.Admin, Hash(string.Empty));
                continue;
            }

            // A password_env that names an unset or empty variable is a typo or a missing secret, never "no password":
            // that user cannot log in, and the master says so once at start.
            var password = env(user.PasswordEnv);
            if (string.IsNullOrEmpty(password))
            {
                Warnings.Add($"user '{user.Username}' cannot log in: its password_env names the variable '{user.PasswordEnv}', which is {(password is null ? "not set" : "empty")}. Fix: export {user.PasswordEnv} with the password, or remove password_env for a user without a password.");
                _users[user.Username] = new UserRecord(id++, user.Username, user.Admin, LockedHash);
                continue;
            }

            _users[user.Username] = new UserRecord(id++, user.Username, user.Admin, Hash(password));
        }
    }

    /// <summary>Gets the configuration problems found at start (one line each), for the master's log.</summary>
    public List<string> Warnings { get; } = [];

    /// <summary>Determined's client-side hash: hex SHA-512 of salt + password; empty stays empty.</summary>
    public static string Hash(string password) =>
        password.Length == 0 ? string.Empty : Convert.ToHexStringLower(SHA512.HashData(Encoding.UTF8.GetBytes(Salt + password)));

    public UserRecord? User(string name) => _users.GetValueOrDefault(name);

    public string? Login(string username, string password, bool isHashed)
    {
        if (!_users.TryGetValue(username, out var user))
        {
            return null;
        }

        if (ReferenceEquals(user.PasswordHash, LockedHash))
        {
            return null;
        }

        var hash = isHashed ? password : Hash(password);
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(hash), Encoding.ASCII.GetBytes(user.PasswordHash)))
        {
            return null;
        }

        var token = NewToken();
        _sessions[token] = username;
        return token;
    }

    public bool Logout(string token) => _sessions.TryRemove(token, out _);

    public string IssueUserToken(string username)
    {
        var token = NewToken();
        _sessions[token] = username;
        return token;
    }

    public string IssueAllocationToken(AllocationIdentity allocation)
    {
        var token = NewToken();
        _allocations[token] = allocation;
        return token;
    }

    /// <summary>Reads Authorization: Bearer and Grpc-Metadata-x-allocation-token: Bearer.</summary>
    public Caller? Authenticate(HttpContext context)
    {
        UserRecord? user = null;
        AllocationIdentity? allocation = null;
        if (Bearer(context.Request.Headers.Authorization.ToString()) is { } token && _sessions.TryGetValue(token, out var name))
        {
            user = _users[name];
        }

        if (Bearer(context.Request.Headers["Grpc-Metadata-x-allocation-token"].ToString()) is { } allocationToken
            && _allocations.TryGetValue(allocationToken, out var a))
        {
            allocation = a;
            user ??= _users.GetValueOrDefault(a.Username);
        }

        return user is null ? null : new Caller(user, allocation);
    }

    /// <summary>The bearer token of the request, for logout.</summary>
    public static string? Bearer(string header) =>
        header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7 ? header[7..].Trim() : null;

    private static string NewToken() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
