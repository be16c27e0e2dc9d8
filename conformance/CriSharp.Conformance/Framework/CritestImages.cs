namespace CriSharp.Conformance.Framework;

/// <summary>
/// The images critest 1.36.0 pulls, by their registry path (what follows registry.k8s.io/, gcr.io/ or k8s.gcr.io/).
/// The test registry serves each under the same path and tag (pushed by <c>crisharp-testenv registry --push-critest-images</c>),
/// so the cases that mirror a critest spec run the same image: <c>ctx.Registry.Path(CritestImages.Busybox)</c>.
/// </summary>
public static class CritestImages
{
    public const string Busybox = "e2e-test-images/busybox:1.29-2";
    public const string Nginx = "e2e-test-images/nginx:1.14-2";
    public const string HostNetNginx = "k8s-staging-cri-tools/hostnet-nginx-amd64:latest";
    public const string Httpd = "e2e-test-images/httpd:2.4.39-4";
    public const string NoNewPrivs = "e2e-test-images/nonewprivs:1.3";
    public const string UserUid = "k8s-staging-cri-tools/test-image-user-uid:latest";
    public const string UserUsername = "k8s-staging-cri-tools/test-image-user-username:latest";
    public const string UserUidGroup = "k8s-staging-cri-tools/test-image-user-uid-group:latest";
    public const string UserUsernameGroup = "k8s-staging-cri-tools/test-image-user-username-group:latest";
    public const string PredefinedGroup = "k8s-staging-cri-tools/test-image-predefined-group:latest";
    public const string ImageLatest = "k8s-staging-cri-tools/test-image-latest:latest";
    public static readonly string[] DifferentImages =
        ["k8s-staging-cri-tools/test-image-1:latest", "k8s-staging-cri-tools/test-image-2:latest", "k8s-staging-cri-tools/test-image-3:latest"];
    public const string ImageTagTest = "k8s-staging-cri-tools/test-image-tag:test";
    public const string ImageTagAll = "k8s-staging-cri-tools/test-image-tag:all";
    public static readonly string[] SameImageTags =
        ["k8s-staging-cri-tools/test-image-tags:1", "k8s-staging-cri-tools/test-image-tags:2", "k8s-staging-cri-tools/test-image-tags:3"];
    public const string Pause = "pause:3.9";
}
