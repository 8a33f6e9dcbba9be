using System.Reflection;
using System.Security.Cryptography.X509Certificates;
using System.Xml.Linq;
using Determined.Security;
using Determined.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Determined.Sdk.Tests.Conventions;

/// <summary>Conventions of the public API of both packages, checked by reflection.</summary>
public sealed class PublicApiConventionTests : IDisposable
{
    private static readonly Assembly[] s_assemblies = [typeof(TlsOptions).Assembly, typeof(DeterminedClient).Assembly];
    private readonly string _dir = Directory.CreateTempSubdirectory("det-conventions-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void EveryPublicMember_HasXmlDocumentation()
    {
        var missing = new List<string>();
        foreach (var assembly in s_assemblies)
        {
            var xml = Path.ChangeExtension(assembly.Location, ".xml");
            Assert.True(File.Exists(xml), $"no XML documentation file for {assembly.GetName().Name}");
            var documented = XDocument.Load(xml).Descendants("member").Select(m => (string?)m.Attribute("name")).ToHashSet();
            foreach (var type in assembly.GetExportedTypes())
            {
                if (!documented.Contains("T:" + type.FullName))
                {
                    missing.Add(type.FullName!);
                }
            }
        }

        Assert.Empty(missing);
    }

    [Fact]
    public async Task EveryPublicMethodAndConstructor_RejectsNullForNonNullableReferenceParameters()
    {
        var nullability = new NullabilityInfoContext();
        var checkedCount = 0;
        var failures = new List<string>();
        foreach (var type in s_assemblies.SelectMany(a => a.GetExportedTypes()).Where(t => !t.IsInterface && !t.IsEnum && !typeof(Delegate).IsAssignableFrom(t) && !t.IsSubclassOf(typeof(Exception))))
        {
            var members = type.GetConstructors().Cast<MethodBase>()
                .Concat(type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly).Where(m => !m.IsSpecialName && !m.IsGenericMethodDefinition && !m.IsAbstract));
            foreach (var member in members)
            {
                var parameters = member.GetParameters();
                for (var i = 0; i < parameters.Length; i++)
                {
                    var p = parameters[i];
                    if (p.ParameterType.IsValueType || p.IsOut || nullability.Create(p).WriteState != NullabilityState.NotNull)
                    {
                        continue;
                    }

                    var args = new object?[parameters.Length];
                    var ok = true;
                    for (var j = 0; j < parameters.Length && ok; j++)
                    {
                        if (j != i)
                        {
                            ok = TryCreate(parameters[j].ParameterType, out args[j]) || parameters[j].HasDefaultValue && (args[j] = parameters[j].DefaultValue) is var _;
                        }
                    }

                    object? instance = null;
                    if (!ok || (!member.IsStatic && member is MethodInfo && !TryCreate(type, out instance)))
                    {
                        continue;
                    }

                    checkedCount++;
                    var thrown = await InvokeAsync(member, instance, args);
                    if (thrown is not ArgumentException)
                    {
                        failures.Add($"{type.Name}.{member.Name}({p.Name} = null) threw {thrown?.GetType().Name ?? "nothing"}");
                    }
                }
            }
        }

        Assert.True(checkedCount >= 40, $"only {checkedCount} parameters could be checked");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static async Task<Exception?> InvokeAsync(MethodBase member, object? instance, object?[] args)
    {
        try
        {
            var result = member is ConstructorInfo c ? c.Invoke(args) : member.Invoke(instance, args);
            switch (result)
            {
                case Task task:
                    await task;
                    break;
                case ValueTask valueTask:
                    await valueTask;
                    break;
                case IDisposable disposable:
                    disposable.Dispose();
                    break;
            }

            return null;
        }
        catch (TargetInvocationException ex)
        {
            return ex.InnerException;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }

    private bool TryCreate(Type type, out object? value)
    {
        value = type switch
        {
            _ when type == typeof(string) => "x",
            _ when type == typeof(Uri) => new Uri("https://127.0.0.1:9"),
            _ when type == typeof(TlsOptions) => new TlsOptions(),
            _ when type == typeof(TlsPolicy) => TlsPolicy.Default,
            _ when type == typeof(CertificateTrustResolver) => new CertificateTrustResolver(TlsPolicy.Default),
            _ when type == typeof(MasterHttpHandlerFactory) => new MasterHttpHandlerFactory(new CertificateTrustResolver(TlsPolicy.Default)),
            _ when type == typeof(X509Certificate2) => TestCertificates.CreateLeaf(null),
            _ when type == typeof(X509Certificate2Collection) => new X509Certificate2Collection(),
            _ when type == typeof(MasterCertificateStore) => new MasterCertificateStore(_dir),
            _ when type == typeof(Determined.Security.TrustOnFirstUse) => new Determined.Security.TrustOnFirstUse(new MasterCertificateStore(_dir)),
            _ when type == typeof(DeterminedTokenStore) => new DeterminedTokenStore(_dir),
            _ when type == typeof(DeterminedClientOptions) => new DeterminedClientOptions(),
            _ when type == typeof(DeterminedConnectionSettings) => DeterminedConnectionSettings.Resolve(new DeterminedClientOptions { UseEnvironment = false, UseTokenStore = false }, _ => null),
            _ when type == typeof(HttpClient) => new HttpClient(),
            _ when type == typeof(HttpMethod) => HttpMethod.Get,
            _ when type == typeof(DeterminedClient) => new DeterminedClient(new HttpClient(), DeterminedConnectionSettings.Resolve(new DeterminedClientOptions { UseEnvironment = false, UseTokenStore = false }, _ => null)),
            _ when type == typeof(IServiceCollection) => new ServiceCollection(),
            _ when type == typeof(IConfiguration) => new ConfigurationBuilder().Build(),
            _ when type == typeof(Action<DeterminedClientOptions>) => new Action<DeterminedClientOptions>(_ => { }),
            _ when type == typeof(IEnumerable<string>) => new[] { "x" },
            _ when type == typeof(IEnumerable<TaskLog>) => Array.Empty<TaskLog>(),
            _ => null,
        };
        return value is not null;
    }
}
