using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Determined.Samples.Master.Configuration;

namespace Determined.Samples.Master.Api;

public sealed record UserRecord(int Id, string Username, bool Admin, string PasswordHash)
{
    /// <summary>When the user was created (upstream's <c>modified_at</c>).</summary>
    public DateTimeOffset ModifiedAt { get; init; } = DateTimeOffset.UtcNow;
}

/// <summary>
/// Who a request acts as: a user with a session token (<see cref="HasUserToken"/>), and/or a task allocation (allocation
/// token). Only a user session may act as the user (launch commands); an allocation acts for its own task only.
/// </summary>
public sealed record Caller(UserRecord User, AllocationIdentity? Allocation, bool HasUserToken);

public sealed record AllocationIdentity(string TaskId, string AllocationId, string Username);

/// <summary>Users, session tokens and allocation tokens of the sample master. Tokens live in memory only.</summary>
public sealed class AuthService
{
    private const string Salt = "GubPEmmotfiK9TMD6Zdw";

    /// <summary>The hash of a user who cannot log in (no password hash equals it: it is not hex).</summary>
    private static readonly string LockedHash = new('!', 1);
    private readonly Dictionary<string, UserRecord> _users = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string User, DateTimeOffset Expires)> _sessions = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly TimeSpan _tokenLifetime;
    private readonly ConcurrentDictionary<string, AllocationIdentity> _allocations = new(StringComparer.Ordinal);

    /// <param name="users">The configured users.</param>
    /// <param name="env">Reads password variables.</param>
    /// <param name="tokenLifetime">How long a user session token lives (upstream's security.token.default_lifespan_days: 30 days).</param>
    /// <param name="time">The clock.</param>
    public AuthService(IEnumerable<UserConfig> users, Func<string, string?> env, TimeSpan? tokenLifetime = null, TimeProvider? time = null)
    {
        _tokenLifetime = tokenLifetime ?? TimeSpan.FromDays(30);
        _time = time ?? TimeProvider.System;
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

    /// <summary>Gets a value indicating whether upstream's default users still log in without a password.</summary>
    public bool HasDefaultUsersWithoutPassword => _users.Values.Any(u => u.Username is "determined" or "admin" && u.PasswordHash.Length == 0);

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

        return IssueUserToken(username);
    }

    /// <summary>Logout revokes the session token.</summary>
    public bool Logout(string token) => _sessions.TryRemove(token, out _);

    public string IssueUserToken(string username)
    {
        var token = NewToken();
        _sessions[token] = (username, _time.GetUtcNow() + _tokenLifetime);
        return token;
    }

    /// <summary>Revokes the tokens issued for a task when it ends (its allocation token and its user token).</summary>
    public void Revoke(params string?[] tokens)
    {
        foreach (var token in tokens)
        {
            if (token is not null)
            {
                _sessions.TryRemove(token, out _);
                _allocations.TryRemove(token, out _);
            }
        }
    }

    public string IssueAllocationToken(AllocationIdentity allocation)
    {
        var token = NewToken();
        _allocations[token] = allocation;
        return token;
    }

    /// <summary>
    /// Reads Authorization: Bearer and Grpc-Metadata-x-allocation-token: Bearer. Every credential a request carries must
    /// be valid (an empty or unknown one fails the request, it is never ignored in favour of the other), and both must
    /// name the same user; expired sessions are gone.
    /// </summary>
    public Caller? Authenticate(HttpContext context)
    {
        UserRecord? user = null;
        AllocationIdentity? allocation = null;
        var headers = context.Request.Headers;
        if (headers.ContainsKey("Authorization"))
        {
            if (Bearer(headers.Authorization.ToString()) is not { } token || !_sessions.TryGetValue(token, out var session))
            {
                return null;
            }

            if (session.Expires <= _time.GetUtcNow())
            {
                _sessions.TryRemove(token, out _);
                return null;
            }

            user = _users[session.User];
        }

        if (headers.ContainsKey("Grpc-Metadata-x-allocation-token"))
        {
            if (Bearer(headers["Grpc-Metadata-x-allocation-token"].ToString()) is not { } allocationToken || !_allocations.TryGetValue(allocationToken, out var a))
            {
                return null;
            }

            if (user is not null && user.Username != a.Username)
            {
                return null;
            }

            allocation = a;
            user ??= _users.GetValueOrDefault(a.Username);
        }

        return user is null ? null : new Caller(user, allocation, HasUserToken: headers.ContainsKey("Authorization"));
    }

    /// <summary>The bearer token of the request, for logout.</summary>
    public static string? Bearer(string header) =>
        header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7 ? header[7..].Trim() : null;

    private static string NewToken() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
