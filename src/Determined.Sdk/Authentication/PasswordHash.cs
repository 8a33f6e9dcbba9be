using System.Security.Cryptography;
using System.Text;

namespace Determined.Sdk;

/// <summary>Determined's client-side password hashing before login: lowercase hex SHA-512 of a fixed salt plus the password; empty stays empty.</summary>
internal static class PasswordHash
{
    private const string Salt = "GubPEmmotfiK9TMD6Zdw";

    public static string Hash(string password) =>
        password.Length == 0 ? string.Empty : Convert.ToHexStringLower(SHA512.HashData(Encoding.UTF8.GetBytes(Salt + password)));
}
