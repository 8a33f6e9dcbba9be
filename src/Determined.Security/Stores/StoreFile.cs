using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Determined.Security;

namespace Determined;

/// <summary>
/// A JSON store shared with Determined's Python CLI: every read and write happens under <c>&lt;file&gt;.lock</c>
/// (an OS lock, <c>flock</c> on Unix, which also excludes a Python <c>filelock</c> holder); writes go to
/// <c>&lt;file&gt;.temp</c> and are renamed over the file, so a crash never leaves a half-written store.
/// A corrupt file is moved aside (never deleted) and the store continues empty.
/// </summary>
internal sealed class StoreFile
{
    private static readonly TimeSpan s_lockTimeout = TimeSpan.FromSeconds(30);

    private readonly Func<JsonObject, string?>? _validate;

    /// <param name="path">The store file.</param>
    /// <param name="time">Names quarantined files.</param>
    /// <param name="validate">Returns why a parsed object is not a valid store, or null.</param>
    public StoreFile(string path, TimeProvider time, Func<JsonObject, string?>? validate = null)
    {
        _validate = validate;
        Path = System.IO.Path.GetFullPath(path);
        Time = time;
    }

    public string Path { get; }

    public string LockPath => Path + ".lock";

    public string TempPath => Path + ".temp";

    public TimeProvider Time { get; }

    /// <summary>Set when the last read found a corrupt file: where it was moved.</summary>
    public string? LastQuarantinedPath { get; private set; }

    /// <summary>Takes the lock, reads the object (empty when missing or corrupt), lets <paramref name="update"/> change it, and writes it back when asked.</summary>
    public T Update<T>(Func<JsonObject, (T Result, bool Write)> update, Action<string, string>? onCorrupt = null)
    {
        EnsureDirectory();
        using var held = AcquireLockUnlessHeld();
        var store = Read(onCorrupt);
        var (result, write) = update(store);
        if (write)
        {
            Write(store);
        }

        return result;
    }

    public JsonObject ReadLocked(Action<string, string>? onCorrupt = null)
    {
        if (!File.Exists(Path))
        {
            return [];
        }

        FileStream? held;
        try
        {
            held = AcquireLockUnlessHeld();
        }
        catch (DeterminedException ex) when (LockCannotBeCreated(ex))
        {
            // A read-only configuration directory (e.g. a mounted secret): the lock cannot be created, but reading is safe.
            held = null;
        }

        using (held)
        {
            return Read(onCorrupt);
        }
    }

    /// <summary>
    /// Another process holds the lock: on Unix .NET reports flock's EWOULDBLOCK with the raw errno as HResult (11 on Linux,
    /// 35 on macOS); on Windows it is ERROR_SHARING_VIOLATION/ERROR_LOCK_VIOLATION (0x80070020/21).
    /// </summary>
    /// <summary>The lock file cannot exist here (a read-only directory, e.g. a mounted secret), as opposed to being held.</summary>
    private static bool LockCannotBeCreated(DeterminedException ex) =>
        ex.InnerException is UnauthorizedAccessException || (ex.InnerException is IOException io && !IsSharingViolation(io));

        private static bool IsSharingViolation(IOException ex) =>
        OperatingSystem.IsWindows() ? (ex.HResult & 0xFFFF) is 32 or 33 : ex.HResult is 11 or 35;

    /// <summary>The most a store file may hold (thousands of masters' chains).</summary>
    private const int MaxStoreBytes = 16 * 1024 * 1024;

    private JsonObject Read(Action<string, string>? onCorrupt)
    {
        LastQuarantinedPath = null;
        string text;
        try
        {
            if (!File.Exists(Path))
            {
                return [];
            }

            text = BoundedFile.ReadAllText(Path, MaxStoreBytes);
        }
        catch (UnsupportedFileException) when (new FileInfo(Path).Length == 0)
        {
            // Empty (or not a regular file): corrupt, so it is moved aside below like any unreadable JSON; never opened.
            text = string.Empty;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DeterminedStoreException($"The store '{Path}' cannot be read ({ex.Message}). Fix: check its permissions; it must be readable by user '{Environment.UserName}'.", Path, ex);
        }

        string? problem = null;
        try
        {
            // Read eagerly, as Python's json.load does: a repeated key keeps its last value (Python's rule; JsonNode would
            // throw later, on access), and every string is decoded now, inside this try.
            using var document = JsonDocument.Parse(text, new JsonDocumentOptions { AllowTrailingCommas = false, MaxDepth = 64 });
            if (ToNode(document.RootElement) is JsonObject obj)
            {
                problem = _validate?.Invoke(obj);
                if (problem is null)
                {
                    return obj;
                }
            }
            else
            {
                problem = "it is not a JSON object";
            }
        }
        catch (JsonException ex)
        {
            problem = $"it is not valid JSON ({ex.Message})";
        }
        catch (InvalidOperationException ex)
        {
            // Valid JSON that .NET cannot hold as text (an escaped lone surrogate such as "\ud800", which Python writes and
            // reads): not corrupt for Python, so it is neither moved aside nor rewritten.
            throw new DeterminedStoreException($"The store '{Path}' holds a string this SDK cannot read ({ex.Message}): an escaped lone surrogate (\\ud800-\\udfff) in a key or value. Determined's Python CLI can still read it. Fix: remove that entry (e.g. 'det tls forget <master>' or edit the JSON).", Path, ex);
        }

        Quarantine(problem, onCorrupt);
        return [];
    }

    /// <summary>A JSON value as a node; for objects, the last of repeated keys wins (Python's json.load).</summary>
    private static JsonNode? ToNode(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var obj = new JsonObject();
                foreach (var property in element.EnumerateObject())
                {
                    obj[property.Name] = ToNode(property.Value);
                }

                return obj;
            case JsonValueKind.Array:
                var array = new JsonArray();
                foreach (var item in element.EnumerateArray())
                {
                    array.Add(ToNode(item));
                }

                return array;
            case JsonValueKind.String:
                return JsonValue.Create(element.GetString());
            case JsonValueKind.Null:
                return null;
            default:
                return JsonNode.Parse(element.GetRawText());
        }
    }

    /// <summary>Moves a corrupt file aside, never deleting data, and reports where it went.</summary>
    public void Quarantine(string problem, Action<string, string>? onCorrupt)
    {
        var stamp = Time.GetUtcNow().ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var target = $"{Path}.corrupt-{stamp}";
        for (var i = 1; File.Exists(target); i++)
        {
            target = $"{Path}.corrupt-{stamp}-{i}";
        }

        try
        {
            File.Move(Path, target);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A read-only directory (a mounted secret): the corrupt file cannot be moved aside, and is never deleted.
            throw new DeterminedStoreException($"The store '{Path}' is corrupt ({problem}) and cannot be moved aside to '{target}' ({ex.Message}). Fix: repair or remove it by hand, or make '{System.IO.Path.GetDirectoryName(Path)}' writable.", Path, ex);
        }

        LastQuarantinedPath = target;
        onCorrupt?.Invoke(target, problem);
    }

    private void Write(JsonObject store)
    {
        try
        {
            AtomicFile.WriteAllText(Path, PythonJson.Serialize(store), privateFile: true, temporaryPath: TempPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DeterminedStoreException(
                $"The store '{Path}' could not be written ({ex.Message}); the previous contents are unchanged. Fix: free disk space or make '{System.IO.Path.GetDirectoryName(Path)}' writable for user '{Environment.UserName}' (or point DET_DEBUG_CONFIG_PATH at a writable directory).",
                Path,
                ex);
        }
    }

    private void EnsureDirectory()
    {
        var directory = System.IO.Path.GetDirectoryName(Path)!;
        if (Directory.Exists(directory))
        {
            return;
        }

        try
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directory);
            }
            else
            {
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DeterminedStoreException($"The configuration directory '{directory}' cannot be created ({ex.Message}). Fix: create it, or set DET_DEBUG_CONFIG_PATH to a writable directory.", directory, ex);
        }
    }

    /// <summary>
    /// Runs a store operation under the lock, waiting for it without blocking a thread and giving up when
    /// <paramref name="cancellationToken"/> is cancelled (the operation itself reads and writes a few kilobytes
    /// synchronously). The operation's own locking sees that this flow holds the lock.
    /// </summary>
    public async Task<T> RunLockedAsync<T>(Func<T> operation, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (HeldHere || !Directory.Exists(System.IO.Path.GetDirectoryName(Path)))
        {
            // Already held by this flow; or no store yet: nothing to wait for (a write creates the directory and locks).
            return operation();
        }

        FileStream? held;
        try
        {
            held = await AcquireLockAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DeterminedException ex) when (LockCannotBeCreated(ex))
        {
            // The lock cannot be created (a read-only directory): the operation decides what it can do without it.
            return operation();
        }

        using (held)
        {
            // A scope, not a flag: work the operation might start (a task, a timer) captures it, and it is closed on release.
            var scope = new HolderScope(this);
            s_holder.Value = scope;
            try
            {
                return operation();
            }
            finally
            {
                scope.Closed = true;
                s_holder.Value = null;
            }
        }
    }

    /// <summary>This flow's store whose lock it holds (set only inside <see cref="RunLockedAsync"/>).</summary>
    private static readonly AsyncLocal<HolderScope?> s_holder = new();

    private bool HeldHere => s_holder.Value is { Closed: false } scope && ReferenceEquals(scope.File, this);

    private FileStream? AcquireLockUnlessHeld() => HeldHere ? null : AcquireLock();

    private sealed class HolderScope(StoreFile file)
    {
        public StoreFile File { get; } = file;

        public volatile bool Closed;
    }

    private async Task<FileStream> AcquireLockAsync(CancellationToken cancellationToken)
    {
        var started = Time.GetTimestamp();
        var delay = 5;
        while (true)
        {
            try
            {
                return OpenLockFile();
            }
            catch (IOException ex) when (IsSharingViolation(ex) && Time.GetElapsedTime(started) < s_lockTimeout)
            {
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay = Math.Min(delay * 2, 100);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw LockFailure(ex);
            }
        }
    }

    private FileStream OpenLockFile()
    {
        // A lock file is never followed through a symbolic link (one planted there would make this process create or lock
        // a file of the planter's choosing). The directory is the user's own (0700), so nobody else can swap it after this.
        if (new FileInfo(LockPath).LinkTarget is { } target)
        {
            throw new DeterminedStoreException($"The lock file '{LockPath}' is a symbolic link (to '{target}'); a lock file is never followed through a link. Fix: remove the link (rm '{LockPath}') and check who created it.", LockPath);
        }

        var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        return new FileStream(LockPath, options);
    }

    private DeterminedStoreException LockFailure(Exception ex) => ex switch
    {
        IOException io when !IsSharingViolation(io) => new DeterminedStoreException($"The lock file '{LockPath}' cannot be created ({ex.Message}). Fix: make '{System.IO.Path.GetDirectoryName(Path)}' writable for user '{Environment.UserName}', free disk space, or point DET_DEBUG_CONFIG_PATH at a writable directory.", LockPath, ex),
        IOException => new DeterminedStoreException($"Timed out after {s_lockTimeout.TotalSeconds:0} s waiting for the lock '{LockPath}' held by another process ({ex.Message}). Fix: wait for the other 'det' or SDK process to finish; if none is running, the holder is stuck: end it.", LockPath, ex),
        _ => new DeterminedStoreException($"The lock file '{LockPath}' cannot be opened ({ex.Message}). Fix: make the directory writable for user '{Environment.UserName}'.", LockPath, ex),
    };

    /// <summary>Holds an exclusive OS lock on the lock file; FileShare.None is flock(LOCK_EX) on Unix.</summary>
    private FileStream AcquireLock()
    {
        var deadline = Time.GetTimestamp();
        var delay = 5;
        while (true)
        {
            try
            {
                return OpenLockFile();
            }
            catch (IOException ex) when (IsSharingViolation(ex) && Time.GetElapsedTime(deadline) < s_lockTimeout)
            {
                Thread.Sleep(delay);
                delay = Math.Min(delay * 2, 100);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw LockFailure(ex);
            }
        }
    }
}
