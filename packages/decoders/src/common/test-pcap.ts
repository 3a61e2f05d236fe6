export { type PcapUdpPacket, parsePcap } from '../pcap/pcap-reader.js';
