# Demo script: boot with run=/etc/demo.sh
echo "== df"
df
echo "== mount"
mount
echo "== ls -l /"
ls -l /
echo "== cat /etc/motd"
cat /etc/motd
echo "== write then read in /tmp"
echo hello > /tmp/x
cat /tmp/x
echo "== ls /dev"
ls /dev
echo "== errors name the errno"
cat /nope
poweroff
