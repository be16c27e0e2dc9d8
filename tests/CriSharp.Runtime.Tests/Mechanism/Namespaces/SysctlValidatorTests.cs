using CriSharp.Mechanism.Namespaces;
using CriSharp.Runtime.Pods;

namespace CriSharp.Runtime.Tests.Mechanism.Namespaces;

public class SysctlValidatorTests
{
    static void Check(string key, string value, bool hostNet = false, bool hostIpc = false) =>
        SysctlValidator.Validate(new Dictionary<string, string> { [key] = value }, hostNet, hostIpc);

    [Theory]
    [InlineData("net.ipv4.ip_forward", "1")]
    [InlineData("net.ipv4.ip_local_port_range", "1024 65000")]
    [InlineData("net/ipv4/ip_forward", "1")]
    [InlineData("net.ipv4.conf.all.rp_filter", "0")]
    [InlineData("kernel.shm_rmid_forced", "1")]
    [InlineData("kernel.shmmax", "68719476736")]
    [InlineData("kernel.msgmax", "65536")]
    [InlineData("kernel.sem", "250 32000 32 128")]
    [InlineData("fs.mqueue.msg_max", "10")]
    public void Accepted(string key, string value) => Check(key, value);

    [Theory]
    [InlineData("kernel.shm_rmid_forced=1+kernel.core_pattern=|/tmp/x", "1")]
    [InlineData("kernel.shm_rmid_forced", "1+kernel.core_pattern=|/tmp/x")]
    [InlineData("kernel.shm_rmid_forced", "1\nkernel.core_pattern=|/tmp/x")]
    [InlineData("kernel.shm_rmid_forced", "1\r")]
    [InlineData("kernel.shm_rmid_forced", "1\0")]
    [InlineData("kernel.shm_rmid_forced", "")]
    [InlineData("kernel.shm_rmid_forced", "\u00e9")]
    [InlineData("../../x", "1")]
    [InlineData("net/../kernel/core_pattern", "1")]
    [InlineData("net.ipv4..ip_forward", "1")]
    [InlineData("net.ipv4.ip_forward,kernel.core_pattern", "1")]
    [InlineData("net/ipv4/conf/eth0.100/forwarding", "1")]
    [InlineData("/net/ipv4/ip_forward", "1")]
    [InlineData("net.ipv4.ip forward", "1")]
    [InlineData("kernel.core_pattern", "|/tmp/x")]
    [InlineData("kernel.hostname", "evil")]
    [InlineData("kernel.domainname", "evil")]
    [InlineData("vm.overcommit_memory", "1")]
    [InlineData("kernel.shm_rmid_forced\n", "1")]
    [InlineData("", "1")]
    public void Refused(string key, string value) =>
        Assert.Throws<SysctlException>(() => Check(key, value));

    [Fact]
    public void NetworkSysctlRefusedWithHostNetwork()
    {
        var e = Assert.Throws<SysctlException>(() => Check("net.ipv4.ip_forward", "1", hostNet: true));
        Assert.Equal("net.ipv4.ip_forward", e.Key);
        Check("kernel.shm_rmid_forced", "1", hostNet: true);
    }

    [Fact]
    public void IpcSysctlRefusedWithHostIpc()
    {
        Assert.Throws<SysctlException>(() => Check("kernel.msgmnb", "1", hostIpc: true));
        Assert.Throws<SysctlException>(() => Check("fs.mqueue.queues_max", "1", hostIpc: true));
        Check("net.core.somaxconn", "1024", hostIpc: true);
    }

    [Fact]
    public void SlashAndDotSpellingsNormaliseToOneName()
    {
        var r = SysctlValidator.Normalize(new Dictionary<string, string> { ["net/ipv4/ip_forward"] = "1" }, false, false);
        Assert.Equal("net.ipv4.ip_forward", r[0].Name);
        Assert.Equal("net/ipv4/ip_forward", r[0].ProcPath);
        Assert.Equal(SysctlNamespace.Network, r[0].Namespace);
        Assert.Throws<SysctlException>(() => SysctlValidator.Validate(
            new Dictionary<string, string> { ["net/ipv4/ip_forward"] = "1", ["net.ipv4.ip_forward"] = "0" }, false, false));
    }
}
