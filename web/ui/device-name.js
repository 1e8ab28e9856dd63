// A readable default name for this device ("Chrome on Linux"), shown in the devices list; it can be renamed.

export function defaultDeviceName() {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua)
    ? "Edge"
    : /Firefox\//.test(ua)
      ? "Firefox"
      : /Chrom(e|ium)\//.test(ua)
        ? "Chrome"
        : /Safari\//.test(ua)
          ? "Safari"
          : "Browser";
  const platform = navigator.userAgentData?.platform || ua;
  const system = /Android/i.test(platform)
    ? "Android"
    : /iPhone|iPad|iOS/i.test(platform)
      ? "iOS"
      : /Mac/i.test(platform)
        ? "macOS"
        : /Win/i.test(platform)
          ? "Windows"
          : /CrOS|Chrome OS/i.test(platform)
            ? "ChromeOS"
            : /Linux/i.test(platform)
              ? "Linux"
              : "this device";
  return `${browser} on ${system}`;
}
