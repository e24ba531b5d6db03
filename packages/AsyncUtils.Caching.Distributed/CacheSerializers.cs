using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace AsyncUtils;

/// <summary>Ready-made <see cref="ICacheSerializer{T}"/> implementations, all reflection-free.</summary>
public static class CacheSerializers
{
    /// <summary>UTF-8 text (the default for <see cref="string"/> values).</summary>
    public static ICacheSerializer<string> Utf8 { get; } = new StringSerializer();

    /// <summary>The bytes as they are (the default for <see cref="byte"/>[] values).</summary>
    public static ICacheSerializer<byte[]> ByteArray { get; } = new ByteArraySerializer();

    /// <summary>
    /// JSON through System.Text.Json with source-generated metadata, so it stays trimming- and AOT-safe
    /// (pass <c>MyJsonContext.Default.MyType</c>).
    /// </summary>
    /// <typeparam name="T">The type of the values.</typeparam>
    /// <param name="typeInfo">The source-generated metadata for <typeparamref name="T"/>.</param>
    /// <returns>A thread-safe serializer.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="typeInfo"/> is <see langword="null"/>.</exception>
    public static ICacheSerializer<T> Json<T>(JsonTypeInfo<T> typeInfo)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        return new JsonSerializer<T>(typeInfo);
    }

    internal static ICacheSerializer<T>? Default<T>()
    {
        if (typeof(T) == typeof(string))
        {
            return (ICacheSerializer<T>)Utf8;
        }

        if (typeof(T) == typeof(byte[]))
        {
            return (ICacheSerializer<T>)ByteArray;
        }

        return null;
    }

    private sealed class StringSerializer : ICacheSerializer<string>
    {
        public string Deserialize(ReadOnlySequence<byte> source) => Encoding.UTF8.GetString(source);

        public void Serialize(string value, IBufferWriter<byte> target) => Encoding.UTF8.GetBytes(value, target);
    }

    private sealed class ByteArraySerializer : ICacheSerializer<byte[]>
    {
        public byte[] Deserialize(ReadOnlySequence<byte> source) => source.ToArray();

        public void Serialize(byte[] value, IBufferWriter<byte> target) => target.Write(value);
    }

    private sealed class JsonSerializer<T>(JsonTypeInfo<T> typeInfo) : ICacheSerializer<T>
    {
        public T Deserialize(ReadOnlySequence<byte> source)
        {
            var reader = new Utf8JsonReader(source);
            return JsonSerializer.Deserialize(ref reader, typeInfo)!;
        }

        public void Serialize(T value, IBufferWriter<byte> target)
        {
            using var writer = new Utf8JsonWriter(target);
            JsonSerializer.Serialize(writer, value, typeInfo);
        }
    }
}
